// The console's only script besides htmx: every htmx request carries the
// page's anti-forgery token, and request bodies are JSON (the API refuses
// form bodies, which any web page could send cross-site).
(function () {
  "use strict";
  var meta = document.querySelector('meta[name="braid-csrf"]');
  var csrf = meta ? meta.content : "";
  document.addEventListener("htmx:configRequest", function (e) {
    e.detail.headers["X-Braid-CSRF"] = csrf;
  });
  // "Select all" boxes (data-select-all="form id") tick every enabled box
  // of their form.
  document.addEventListener("change", function (e) {
    var id = e.target.getAttribute && e.target.getAttribute("data-select-all");
    if (!id) return;
    document.querySelectorAll("#" + id + ' input[type="checkbox"][name="offsets"]:not(:disabled)').forEach(function (box) {
      box.checked = e.target.checked;
    });
  });
  htmx.defineExtension("braid-json", {
    onEvent: function (name, e) {
      if (name === "htmx:configRequest" && e.detail.verb !== "get") {
        e.detail.headers["Content-Type"] = "application/json";
      }
    },
    encodeParameters: function (xhr, parameters) {
      var out = {};
      parameters.forEach(function (value, key) {
        if (key === "offsets") {
          (out[key] = out[key] || []).push(value);
        } else {
          out[key] = value;
        }
      });
      xhr.overrideMimeType("text/json");
      return JSON.stringify(out);
    }
  });
})();
