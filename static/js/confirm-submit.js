// Forms with a data-confirm="question" attribute ask it before they submit; "Cancel" stops them.
// (The Content-Security-Policy allows no inline script, so no onsubmit="" attributes.)
document.addEventListener("submit", function (event) {
  var question = event.target.getAttribute("data-confirm");
  if (question && !window.confirm(question)) {
    event.preventDefault();
  }
}, true);
