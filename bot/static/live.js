// Live console: when the server reports a change (Server-Sent Events), fetch
// this page again and swap in the parts marked data-live, so new messages and
// hand-overs appear without a reload and without losing what staff are typing.
(function () {
  "use strict";
  if (!window.EventSource || !document.querySelector("[data-live]")) {
    return;
  }
  var busy = false;
  var again = false;

  function refresh() {
    if (busy) {
      again = true;
      return;
    }
    busy = true;
    fetch(window.location.href, {
      credentials: "same-origin",
      cache: "no-store",
      headers: { "X-Live": "1" }, // not activity: an unattended tab still times out
    })
      .then(function (response) {
        if (!response.ok || response.redirected) {
          throw new Error("session ended");
        }
        return response.text();
      })
      .then(function (text) {
        var fresh = new DOMParser().parseFromString(text, "text/html");
        document.querySelectorAll("[data-live]").forEach(function (part) {
          var next = fresh.getElementById(part.id);
          if (next && next.innerHTML !== part.innerHTML) {
            part.innerHTML = next.innerHTML;
          }
        });
        document.title = fresh.title;
      })
      .catch(function () {})
      .then(function () {
        busy = false;
        if (again) {
          again = false;
          refresh();
        }
      });
  }

  var source = new EventSource("/console/events");
  source.addEventListener("change", refresh);
})();
