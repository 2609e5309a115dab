import pytest


@pytest.mark.django_db
def test_unknown_api_url_answers_the_json_error_shape(client, settings):
    settings.DEBUG = False

    response = client.get("/api/v1/no-such-endpoint/")

    assert response.status_code == 404
    assert response.json() == {"error": "not_found", "detail": "No such endpoint or object."}


@pytest.mark.django_db
def test_unknown_page_answers_the_html_404_page(client, settings):
    settings.DEBUG = False

    response = client.get("/no-such-page/")

    assert response.status_code == 404
    assert response["Content-Type"].startswith("text/html")
