"""Instance metrics (SPEC section 10): exporters found by label in a cluster, scraped
on the beat schedule, stored (Elasticsearch or the database), streamed to Kafka, and
the portal's own metrics at ``/metrics``."""
