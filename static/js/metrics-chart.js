/* The instance page's Metrics tab (templates/telemetry/_metrics_tab.html): asks the
 * metrics API (GET /api/v1/namespaces/{ns}/instances/{name}/metrics/?name=&since=,
 * with the signed-in session) for one metric over one window and draws it with uPlot
 * (static/vendor/uplot). Beside the chart, a table holds the same series as text.
 *
 * Labels and names come from exporters, which the portal does not trust: they only
 * ever go into the page as textContent or into the canvas. */
(function () {
  "use strict";

  var MAX_SHOWN = 8; // lines on one chart: more cannot be told apart; the table lists all
  // Sample names of monotonic series (telemetry/storage/base.py says the same): their
  // rate per second is what people read.
  var COUNTER = /_(total|count|sum|bucket)$/;
  // The same on every series of an instance: noise in a legend.
  var COMMON_LABELS = {
    __name__: true,
    opsmarket_namespace: true,
    opsmarket_instance: true,
    opsmarket_app: true,
  };
  var states = new WeakMap(); // form -> its chart's state

  var compact = new Intl.NumberFormat(undefined, { notation: "compact", maximumFractionDigits: 2 });
  var exact = new Intl.NumberFormat(undefined, { maximumFractionDigits: 4 });
  function formatNumber(value) {
    if (value === null || value === undefined || isNaN(value)) return "—";
    return Math.abs(value) >= 10000 ? compact.format(value) : exact.format(value);
  }

  function cssVar(element, name, fallback) {
    var value = getComputedStyle(element).getPropertyValue(name).trim();
    return value || fallback;
  }

  /* --- series ------------------------------------------------------------------ */

  // Labels that tell the series apart (and the pod, always): the legend shows these.
  function varyingLabels(series) {
    var values = {};
    var present = {};
    series.forEach(function (one) {
      Object.keys(one.labels).forEach(function (key) {
        (values[key] = values[key] || {})[one.labels[key]] = true;
        present[key] = (present[key] || 0) + 1;
      });
    });
    var varying = { pod: true };
    Object.keys(values).forEach(function (key) {
      if (Object.keys(values[key]).length > 1 || present[key] < series.length) varying[key] = true;
    });
    return varying;
  }

  function seriesLabel(labels, varying) {
    var parts = [];
    Object.keys(labels)
      .sort()
      .forEach(function (key) {
        if (!COMMON_LABELS[key] && varying[key]) parts.push(key + '="' + labels[key] + '"');
      });
    return (labels.__name__ || "") + (parts.length ? "{" + parts.join(", ") + "}" : "");
  }

  // Per second between neighbouring points; a value lower than the one before is
  // a counter that restarted from zero.
  function perSecond(points) {
    var rates = [];
    for (var i = 1; i < points.length; i++) {
      var seconds = points[i][0] - points[i - 1][0];
      if (seconds <= 0) continue;
      var delta = points[i][1] - points[i - 1][1];
      rates.push([points[i][0], (delta < 0 ? points[i][1] : delta) / seconds]);
    }
    return rates;
  }

  // uPlot wants one x array shared by every series. The storage answers one point
  // per step per series, at its last sample's time: put each on its step's start,
  // so that pods scraped a few seconds apart line up.
  function align(pointLists, step) {
    var xs = {};
    var rows = pointLists.map(function (points) {
      var byX = {};
      points.forEach(function (point) {
        var x = Math.floor(point[0] / step) * step;
        byX[x] = point[1];
        xs[x] = true;
      });
      return byX;
    });
    var x = Object.keys(xs)
      .map(Number)
      .sort(function (a, b) { return a - b; });
    return [x].concat(
      rows.map(function (byX) {
        return x.map(function (t) { return t in byX ? byX[t] : null; });
      })
    );
  }

  function summary(points) {
    var values = points.map(function (point) { return point[1]; });
    return {
      points: values.length,
      last: values[values.length - 1],
      min: Math.min.apply(null, values),
      max: Math.max.apply(null, values),
    };
  }

  /* --- drawing ----------------------------------------------------------------- */

  function chartHeight(box) {
    return box.clientWidth < 520 ? 220 : 280;
  }

  function clearChart(state) {
    if (state.plot) state.plot.destroy();
    state.plot = null;
    state.chart.textContent = "";
  }

  function draw(state, data, labels, unit) {
    clearChart(state);
    var box = state.chart;
    var colors = [];
    for (var i = 1; i <= MAX_SHOWN; i++) colors.push(cssVar(box, "--chart-" + i, "#3451b2"));
    var text = cssVar(box, "--muted", "#5a6372");
    var grid = cssVar(box, "--border", "#e2e5ea");
    var font = "12px " + cssVar(document.body, "--font", "sans-serif");
    var axis = { stroke: text, font: font, grid: { stroke: grid, width: 1 }, ticks: { stroke: grid, width: 1 } };
    var yAxis = Object.assign({}, axis, {
      size: 60,
      values: function (plot, ticks) { return ticks.map(formatNumber); },
    });
    state.plot = new uPlot(
      {
        width: Math.max(box.clientWidth, 200),
        height: chartHeight(box),
        scales: { x: { time: true } },
        axes: [axis, yAxis],
        legend: { live: true },
        cursor: { points: { size: 6 } },
        series: [{ label: "Time" }].concat(
          labels.map(function (label, index) {
            return {
              label: label,
              stroke: colors[index % colors.length],
              width: 1.75,
              spanGaps: true,
              points: { show: false },
              value: function (plot, value) {
                return value === null || value === undefined ? "—" : formatNumber(value) + unit;
              },
            };
          })
        ),
      },
      data,
      box
    );
  }

  function fillTable(state, name, rows, unit) {
    var holder = state.table;
    holder.textContent = "";
    if (!rows.length) {
      var none = document.createElement("p");
      none.className = "muted small";
      none.textContent = "No series in this window.";
      holder.appendChild(none);
      return;
    }
    var headers = ["Series", "Points", "Last", "Min", "Max"];
    var wrap = document.createElement("div");
    wrap.className = "data-table";
    var scroll = document.createElement("div");
    scroll.className = "data-table__scroll";
    var table = document.createElement("table");
    table.className = "data-table__table table";
    var caption = table.createCaption();
    caption.className = "visually-hidden";
    caption.textContent = "Series of " + name + (unit ? ", per second" : "");
    var headRow = table.createTHead().insertRow();
    headers.forEach(function (label, index) {
      var th = document.createElement("th");
      th.scope = "col";
      th.className = "data-table__th" + (index ? " data-table__th--number" : "");
      th.textContent = label;
      headRow.appendChild(th);
    });
    var body = table.createTBody();
    rows.forEach(function (row) {
      var tr = body.insertRow();
      var cells = [row.label, String(row.points), formatNumber(row.last) + unit,
        formatNumber(row.min) + unit, formatNumber(row.max) + unit];
      cells.forEach(function (value, index) {
        var td = tr.insertCell();
        td.className = "data-table__td" + (index ? " data-table__td--number" : " metrics__series-name");
        td.setAttribute("data-label", headers[index]); // the stacked layout of a phone
        td.textContent = value;
      });
    });
    scroll.appendChild(table);
    wrap.appendChild(scroll);
    holder.appendChild(wrap);
  }

  function say(state, message, problem) {
    state.status.textContent = message;
    state.status.classList.toggle("metrics__status--problem", Boolean(problem));
  }

  function show(state, body, step, windowText) {
    var all = body.series || [];
    var counter = all.length > 0 && all.every(function (one) {
      return COUNTER.test(one.labels.__name__ || "");
    });
    state.rateBox.hidden = !counter;
    var rate = counter && state.rateInput.checked;
    var unit = rate ? "/s" : "";
    var series = all
      .map(function (one) {
        return { labels: one.labels, points: rate ? perSecond(one.points) : one.points };
      })
      .filter(function (one) { return one.points.length > 0; });
    if (!series.length) {
      clearChart(state);
      fillTable(state, body.name, [], unit);
      say(
        state,
        all.length && rate
          ? "Too few samples of " + body.name + " in the " + windowText + " for a rate: untick Per second to see its values."
          : "No samples of " + body.name + " in the " + windowText + "."
      );
      return;
    }
    var varying = varyingLabels(series);
    var labels = series.map(function (one) { return seriesLabel(one.labels, varying); });
    var shown = series.slice(0, MAX_SHOWN);
    draw(state, align(shown.map(function (one) { return one.points; }), step), labels.slice(0, MAX_SHOWN), unit);
    fillTable(
      state,
      body.name,
      series.map(function (one, index) {
        return Object.assign({ label: labels[index] }, summary(one.points));
      }),
      unit
    );
    var counted = series.length === 1 ? "1 series" : series.length + " series";
    if (series.length > MAX_SHOWN) counted += ", the first " + MAX_SHOWN + " drawn (the table lists all)";
    say(state, body.name + (rate ? " per second" : "") + " over the " + windowText + ": " + counted + ".");
  }

  function load(state) {
    var form = state.form;
    var name = form.elements.name.value;
    var since = form.elements.since;
    var option = since.options[since.selectedIndex];
    var step = Number(option.getAttribute("data-step")) || 1;
    var windowText = option.textContent.trim();
    if (state.request) state.request.abort();
    var request = new AbortController();
    state.request = request;
    say(state, "Loading " + name + "…");
    var url = form.getAttribute("data-series-url") + "?name=" + encodeURIComponent(name) +
      "&since=" + encodeURIComponent(since.value);
    fetch(url, { credentials: "same-origin", headers: { Accept: "application/json" }, signal: request.signal })
      .then(function (response) {
        return response.json().then(
          function (body) { return { response: response, body: body }; },
          function () { throw new Error("The metrics could not be read (HTTP " + response.status + ")."); }
        );
      })
      .then(function (answer) {
        if (!answer.response.ok) {
          throw new Error((answer.body && answer.body.detail) || "The metrics could not be read.");
        }
        show(state, answer.body, step, windowText);
      })
      .catch(function (error) {
        if (error.name === "AbortError") return;
        clearChart(state);
        say(state, error.message || "The metrics could not be read.", true);
      });
  }

  function resize(state) {
    if (!state.plot) return;
    var width = Math.max(state.chart.clientWidth, 200);
    if (width !== state.plot.width) state.plot.setSize({ width: width, height: chartHeight(state.chart) });
  }

  function init() {
    document.querySelectorAll("[data-metrics-form]").forEach(function (form) {
      if (states.has(form)) return;
      var metrics = form.closest("[data-metrics]");
      var state = {
        form: form,
        chart: metrics.querySelector("[data-metrics-chart]"),
        status: metrics.querySelector("[data-metrics-status]"),
        table: metrics.querySelector("[data-metrics-table]"),
        rateBox: form.querySelector("[data-metrics-rate]"),
        rateInput: form.querySelector('input[name="rate"]'),
        plot: null,
        request: null,
      };
      states.set(form, state);
      form.addEventListener("change", function () { load(state); });
      form.addEventListener("submit", function (event) {
        event.preventDefault();
        load(state);
      });
      if (window.ResizeObserver) {
        new ResizeObserver(function () { resize(state); }).observe(state.chart);
      }
      load(state);
    });
  }

  if (typeof uPlot === "undefined") return; // the vendored library failed to load
  document.addEventListener("htmx:afterSettle", init);
  if (document.readyState === "loading") {
    document.addEventListener("DOMContentLoaded", init);
  } else {
    init();
  }
})();
