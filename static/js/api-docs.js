/* Swagger UI for /api/docs/: reads the schema with the browser session and sends the
   CSRF token with "Try it out" requests that change something. */
(function () {
  "use strict";

  function start() {
    var root = document.getElementById("swagger-ui");
    if (!root || typeof window.SwaggerUIBundle !== "function") return;
    var token = document.querySelector('meta[name="csrf-token"]');
    window.SwaggerUIBundle({
      url: root.getAttribute("data-schema-url"),
      domNode: root,
      deepLinking: true,
      docExpansion: "list",
      defaultModelsExpandDepth: 0,
      tryItOutEnabled: false,
      validatorUrl: null,
      requestInterceptor: function (request) {
        request.credentials = "same-origin";
        if (token && request.method && !/^(GET|HEAD|OPTIONS)$/i.test(request.method)) {
          request.headers["X-CSRFToken"] = token.getAttribute("content");
        }
        return request;
      },
    });
  }

  if (document.readyState === "loading") {
    document.addEventListener("DOMContentLoaded", start);
  } else {
    start();
  }
})();
