/* Shift pages: show the fields the chosen kind of log entry needs (000 "Documentation
 * Requirements"); every field stays in the form, so without this script all are shown. */
(function () {
  "use strict";
  var KIND_FIELDS = {
    incident: ["incident"],
    manual: ["justification", "actions", "verification", "side_effects"],
    job_failure: ["job_ref", "root_cause", "remediation"],
    external: ["counterpart"],
    anomaly: [],
    note: []
  };
  var OPTIONAL = ["incident", "change_ref", "job_ref"];
  function update(form) {
    var kind = form.querySelector("[name=kind]").value;
    var wanted = KIND_FIELDS[kind] || [];
    form.querySelectorAll(".log-field").forEach(function (el) {
      var name = el.getAttribute("data-field");
      var always = name === "kind" || name === "text" || OPTIONAL.indexOf(name) >= 0;
      el.hidden = !(always || wanted.indexOf(name) >= 0);
    });
  }
  document.querySelectorAll("[data-log-form]").forEach(function (form) {
    var select = form.querySelector("[name=kind]");
    select.addEventListener("change", function () { update(form); });
    update(form);
  });
  /* A successful log entry clears the form (the entry shows in the list). */
  document.body.addEventListener("htmx:afterRequest", function (event) {
    var form = event.target.closest && event.target.closest("[data-log-form]");
    if (form && event.detail.successful && !event.detail.xhr.getResponseHeader("X-Refused-Status")) {
      form.reset();
      update(form);
    }
  });
})();
