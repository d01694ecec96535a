// Confirmations as dialogs: a link marked data-dialog="ID" opens the <dialog>
// of that id (its form does the act; its "cancel" closes it without script).
// Without script the link leads to a confirmation page doing the same.
(function () {
  "use strict";
  // Script runs: confirmations are dialogs, not shown in place (console.css).
  document.documentElement.classList.add("js");
  document.addEventListener("click", function (event) {
    var link = event.target.closest ? event.target.closest("a[data-dialog]") : null;
    if (!link) {
      return;
    }
    var dialog = document.getElementById(link.getAttribute("data-dialog"));
    if (!dialog || typeof dialog.showModal !== "function") {
      return; // an old browser: the link's page asks instead
    }
    event.preventDefault();
    dialog.showModal();
  });
})();
