/* The install and upgrade forms (templates/deployments/install.html, upgrade.html):
   focus on the error summary (templates/deployments/_error_summary.html), links that
   open the section holding their field, and, on the install form only, the instance
   name checked as the user types (GET data-install-check, see
   deployments.views.install). No inline script: the Content-Security-Policy allows
   only files from 'self'. */
(function () {
  "use strict";

  /* --- error summary --------------------------------------------------------- */

  function reveal(target) {
    // A field inside closed <details> cannot take the focus: open every ancestor.
    for (var node = target.parentElement; node; node = node.parentElement) {
      if (node.tagName === "DETAILS" && !node.open) node.open = true;
    }
  }

  function focusTarget(id) {
    var target = document.getElementById(id);
    if (!target) return false;
    reveal(target);
    if (target.tagName === "DETAILS") {
      target.open = true;
      target = target.querySelector("summary") || target;
    }
    target.scrollIntoView({ block: "center" });
    target.focus({ preventScroll: true });
    return true;
  }

  document.addEventListener("click", function (event) {
    var link = event.target.closest && event.target.closest("a[data-error-link]");
    if (!link) return;
    var id = decodeURIComponent((link.getAttribute("href") || "").slice(1));
    if (focusTarget(id)) event.preventDefault();
  });

  /* --- name and plan, checked as the user types -------------------------------- */

  function InstallCheck(form) {
    this.form = form;
    this.url = form.getAttribute("data-install-check");
    this.name = form.querySelector("input[name=name]");
    this.namespace = form.querySelector("select[name=namespace]");
    this.status = form.querySelector("[data-name-check]");
    this.plan = form.querySelector("[data-install-plan]");
    this.timer = null;
    this.sequence = 0;
  }

  InstallCheck.prototype.schedule = function () {
    var self = this;
    window.clearTimeout(this.timer);
    this.timer = window.setTimeout(function () { self.run(); }, 250);
  };

  InstallCheck.prototype.field = function (name) {
    var input = this.form.querySelector("[name=" + name + "]");
    return input ? input.value : "";
  };

  InstallCheck.prototype.run = function () {
    var self = this;
    if (!this.url || !this.namespace || !this.namespace.value) return;
    var params = new URLSearchParams({
      market: this.field("market"),
      app: this.field("app"),
      version: this.field("loaded_version"),
      namespace: this.namespace.value,
      name: this.name.value
    });
    var sequence = ++this.sequence;
    fetch(this.url + "?" + params.toString(), {
      credentials: "same-origin",
      headers: { Accept: "application/json" }
    })
      .then(function (response) { return response.ok ? response.json() : null; })
      .then(function (data) {
        if (data && sequence === self.sequence) self.show(data);
      })
      .catch(function () { /* offline: the server checks again on submit */ });
  };

  function paragraph(text, className) {
    var p = document.createElement("p");
    p.className = className;
    p.textContent = text;
    return p;
  }

  InstallCheck.prototype.show = function (data) {
    var name = data.name || {};
    if (this.status) {
      this.status.textContent = name.ok ? "✓ " + name.value + " is free in this namespace." : name.message;
      this.status.classList.toggle("is-bad", !name.ok);
      this.status.classList.toggle("is-good", !!name.ok);
    }
    this.name.setAttribute("aria-invalid", name.ok ? "false" : "true");
    var plan = data.plan || {};
    if (!this.plan) return;
    this.plan.textContent = "";
    if (!plan.ok) {
      this.plan.appendChild(paragraph(plan.message, "install-summary__check is-bad"));
    } else if (plan.installs.length) {
      var line = paragraph("", "install-summary__plan-line");
      var label = document.createElement("strong");
      label.textContent = "Will also install:";
      line.appendChild(label);
      line.appendChild(document.createTextNode(" " + plan.installs.join(", ")));
      this.plan.appendChild(line);
    } else {
      this.plan.appendChild(paragraph("Installs nothing else.", "install-summary__plan-line muted"));
    }
    if (plan.ok && plan.uses.length) {
      this.plan.appendChild(paragraph("Uses: " + plan.uses.join(", "), "install-summary__plan-line muted small"));
    }
  };

  function start() {
    var summary = document.querySelector("[data-focus-on-load]");
    if (summary) summary.focus();
    var form = document.querySelector("form[data-install-check]");
    if (!form || !form.querySelector("input[name=name]")) return;
    var check = new InstallCheck(form);
    check.name.addEventListener("input", function () { check.schedule(); });
    if (check.namespace) check.namespace.addEventListener("change", function () { check.run(); });
  }

  if (document.readyState === "loading") document.addEventListener("DOMContentLoaded", start);
  else start();
})();
