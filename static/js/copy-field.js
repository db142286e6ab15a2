// Secrets shown once: a field with data-select-on-focus selects its whole value when focused, and
// a button with data-copy="field-id" (and data-copy-status="element-id") copies the field's value
// to the clipboard. No inline script: the Content-Security-Policy forbids it.
document.addEventListener("focusin", function (event) {
  if (event.target.hasAttribute && event.target.hasAttribute("data-select-on-focus")) {
    event.target.select();
  }
});

// A field focused before this script ran (autofocus, or a quick user) is selected now.
if (document.activeElement && document.activeElement.hasAttribute &&
    document.activeElement.hasAttribute("data-select-on-focus")) {
  document.activeElement.select();
}

document.addEventListener("click", function (event) {
  var button = event.target.closest ? event.target.closest("[data-copy]") : null;
  if (!button) {
    return;
  }
  var field = document.getElementById(button.getAttribute("data-copy"));
  var status = document.getElementById(button.getAttribute("data-copy-status") || "");
  var say = function (text) { if (status) { status.textContent = text; } };
  field.select();
  if (!navigator.clipboard) {
    say("Press Ctrl+C (⌘C) to copy the selected value.");
    return;
  }
  navigator.clipboard.writeText(field.value).then(
    function () { say("Copied to the clipboard."); },
    function () { say("Press Ctrl+C (⌘C) to copy the selected value."); }
  );
});
