// Keeps a page's live region current: every 30 s fetch the region's HTML fragment and swap
// it in place (no full reload, no flicker). Without JavaScript the page is complete as served.
(function () {
  "use strict";
  var live = document.getElementById("live");
  if (!live || !live.dataset.refreshUrl || !window.fetch) {
    return;
  }
  var seconds = Number(live.dataset.refreshSeconds) || 30;
  var timer = null;
  var busy = false;

  function schedule() {
    window.clearTimeout(timer);
    timer = window.setTimeout(refresh, seconds * 1000);
  }

  function refresh() {
    if (busy) {
      return Promise.resolve(false);
    }
    if (document.hidden) {
      schedule();
      return Promise.resolve(false);
    }
    busy = true;
    return window
      .fetch(live.dataset.refreshUrl, {
        credentials: "same-origin",
        cache: "no-store",
        redirect: "manual",
        headers: { Accept: "text/html" },
      })
      .then(function (response) {
        if (response.type === "opaqueredirect" || response.status === 401) {
          // The session ended (signed out elsewhere, token revoked): show the sign-in form.
          window.location.reload();
          return false;
        }
        if (!response.ok) {
          return false;
        }
        return response.text().then(function (html) {
          live.innerHTML = html;
          live.dataset.refreshedAt = new Date().toISOString();
          return true;
        });
      })
      .catch(function () {
        return false; // a network blip: keep what is on screen and try again later
      })
      .then(function (updated) {
        busy = false;
        schedule();
        return updated;
      });
  }

  document.addEventListener("visibilitychange", function () {
    if (!document.hidden) {
      refresh();
    }
  });
  window.pipepulse = { refresh: refresh };
  schedule();
})();
