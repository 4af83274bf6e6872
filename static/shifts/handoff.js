/* The handoff page.
 * - Drafts: every autosave form (data-autosave) is posted by htmx as you type; a copy of the
 *   text also goes to localStorage, so a save that failed (network, an expired session) is
 *   restored on the next visit and saved then. The copy is dropped once the server has it.
 * - When the sign-off state changes (either operator signed), the page reloads so the parts
 *   that became read-only are shown as such.
 */
(function () {
  "use strict";
  function key(form, field) { return form.getAttribute("data-autosave") + ":" + field.name; }

  document.querySelectorAll("form[data-autosave]").forEach(function (form) {
    var serverAt = parseInt(form.getAttribute("data-updated-at") || "0", 10);
    var restored = false;
    form.querySelectorAll("textarea").forEach(function (field) {
      var saved = null;
      try { saved = JSON.parse(localStorage.getItem(key(form, field)) || "null"); } catch (e) { saved = null; }
      if (saved && saved.value !== field.value && saved.at > serverAt) {
        field.value = saved.value;
        restored = true;
      }
      field.addEventListener("input", function () {
        try {
          localStorage.setItem(key(form, field), JSON.stringify({
            value: field.value, at: Math.floor(Date.now() / 1000)
          }));
        } catch (e) { /* storage full or disabled: the server autosave still runs */ }
      });
    });
    form.addEventListener("htmx:afterRequest", function (event) {
      var xhr = event.detail.xhr;
      if (!event.detail.successful || xhr.responseURL.indexOf("/login/") >= 0) { return; }
      if (xhr.responseText.indexOf("data-saved-at") < 0) { return; }
      form.querySelectorAll("textarea").forEach(function (field) {
        localStorage.removeItem(key(form, field));
      });
    });
    if (restored && window.htmx) {
      var note = form.querySelector("[id^=draft-note]");
      if (note) { note.textContent = "Restored text that had not been saved; saving…"; }
      window.htmx.trigger(form, "change");
    }
  });

  var status = document.getElementById("handoff-status");
  var initial = status ? status.getAttribute("data-status") : null;
  document.body.addEventListener("htmx:afterSwap", function () {
    var now = document.getElementById("handoff-status");
    if (now && initial && now.getAttribute("data-status") !== initial) {
      window.location.reload();
    }
  });
})();
