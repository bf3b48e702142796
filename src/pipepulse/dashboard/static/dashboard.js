// The dashboard's only script (no framework). Without it every page is complete as served;
// with it:
// - the live region refreshes every 30 s in place, keeping keyboard focus, open tables and
//   sideways scroll, and a polite live region says when a status changes;
// - when the server cannot be reached the region greys out under a banner saying since when,
//   links wait instead of leading to the browser's error page, and it recovers by itself;
// - wide charts open scrolled to the newest hours;
// - times can be shown in the reader's own time zone (remembered in localStorage).
(function () {
  "use strict";

  var STORE_KEY = "pipepulse.times";
  var RETRY_SECONDS = [2, 5, 10, 20, 30];
  var FETCH_TIMEOUT_MS = 10000;
  var PROBE_TIMEOUT_MS = 4000;

  var live = document.getElementById("live");
  var banner = document.getElementById("offline-banner");
  var announcer = document.getElementById("announcer");
  var toggle = document.getElementById("time-toggle");

  function announce(text) {
    if (!announcer) {
      return;
    }
    // Cleared first, so the same sentence twice is still read out.
    announcer.textContent = "";
    window.setTimeout(function () {
      announcer.textContent = text;
    }, 50);
  }

  function pad(n) {
    return (n < 10 ? "0" : "") + n;
  }

  function zoneName(date) {
    try {
      var parts = new Intl.DateTimeFormat(undefined, { timeZoneName: "short" }).formatToParts(date);
      for (var i = 0; i < parts.length; i++) {
        if (parts[i].type === "timeZoneName") {
          return parts[i].value;
        }
      }
    } catch (e) {
      // an old browser: fall through to the offset
    }
    var offset = -date.getTimezoneOffset();
    return "UTC" + (offset >= 0 ? "+" : "-") + pad(Math.floor(Math.abs(offset) / 60)) + ":" + pad(Math.abs(offset) % 60);
  }

  function localText(date, style) {
    var day = date.getFullYear() + "-" + pad(date.getMonth() + 1) + "-" + pad(date.getDate());
    var minute = pad(date.getHours()) + ":" + pad(date.getMinutes());
    var zone = zoneName(date);
    if (style === "time") {
      return minute + ":" + pad(date.getSeconds()) + " " + zone;
    }
    if (style === "minute") {
      return day + " " + minute + " " + zone;
    }
    return day + " " + minute + ":" + pad(date.getSeconds()) + " " + zone;
  }

  function localTimes() {
    try {
      return window.localStorage.getItem(STORE_KEY) === "local";
    } catch (e) {
      return false;
    }
  }

  // Rewrites every <time data-local> of the page in UTC (as served) or in local time.
  function applyTimes(root) {
    var local = localTimes();
    var nodes = (root || document).querySelectorAll("time[data-local]");
    for (var i = 0; i < nodes.length; i++) {
      var node = nodes[i];
      var style = node.getAttribute("data-local");
      var date = new Date(node.getAttribute("datetime"));
      if (isNaN(date.getTime())) {
        continue;
      }
      if (style === "relative") {
        if (!node.hasAttribute("data-utc")) {
          node.setAttribute("data-utc", node.getAttribute("title") || "");
        }
        node.setAttribute("title", local ? localText(date, "datetime") : node.getAttribute("data-utc"));
        continue;
      }
      if (!node.hasAttribute("data-utc")) {
        node.setAttribute("data-utc", node.textContent);
      }
      node.textContent = local ? localText(date, style) : node.getAttribute("data-utc");
    }
    if (toggle) {
      toggle.setAttribute("aria-pressed", local ? "true" : "false");
      toggle.title = local ? "Times are in your time zone (" + zoneName(new Date()) + "); press for UTC" : "Times are in UTC; press for your time zone";
    }
  }

  if (toggle) {
    // Offered where there are times to show (not on the sign-in form).
    toggle.hidden = !document.querySelector("time[data-local]");
    toggle.addEventListener("click", function () {
      var local = !localTimes();
      try {
        window.localStorage.setItem(STORE_KEY, local ? "local" : "utc");
      } catch (e) {
        // storage refused (private mode): the choice lasts for this page only
      }
      applyTimes(document);
      announce(local ? "Times shown in your time zone." : "Times shown in UTC.");
    });
  }

  // Wide charts open at their newest (right) end, where a phone would otherwise hide them.
  function scrollToNewest(root) {
    var scrollers = root.querySelectorAll('[data-scroll="end"]');
    for (var i = 0; i < scrollers.length; i++) {
      scrollers[i].scrollLeft = scrollers[i].scrollWidth;
    }
  }

  applyTimes(document);
  scrollToNewest(document);

  // --- Offline handling --------------------------------------------------------------------
  var offlineSince = null;
  var lastContact = new Date();
  var failures = 0;

  function clock(date) {
    return localTimes() ? localText(date, "time") : date.toISOString().slice(11, 19) + " UTC";
  }

  function showOffline(reason) {
    if (!banner) {
      return;
    }
    var first = offlineSince === null;
    if (first) {
      offlineSince = new Date();
    }
    var wait = RETRY_SECONDS[Math.min(failures, RETRY_SECONDS.length) - 1] || RETRY_SECONDS[0];
    banner.querySelector(".offline-text").textContent =
      reason + " since " + clock(offlineSince) + ". What you see is from " + clock(lastContact) +
      " and may be out of date; next try in " + wait + " s (then less often, at most every " +
      RETRY_SECONDS[RETRY_SECONDS.length - 1] + " s).";
    banner.hidden = false;
    if (live) {
      live.classList.add("is-stale");
      live.setAttribute("aria-busy", "true");
    }
    document.documentElement.setAttribute("data-offline", "true");
    if (first) {
      announce("Offline: " + reason + ". The page keeps its last numbers and will update by itself when the server is back.");
    }
  }

  function showOnline() {
    lastContact = new Date();
    failures = 0;
    if (offlineSince === null) {
      return;
    }
    offlineSince = null;
    if (banner) {
      banner.hidden = true;
    }
    if (live) {
      live.classList.remove("is-stale");
      live.removeAttribute("aria-busy");
    }
    document.documentElement.removeAttribute("data-offline");
    announce("Back online: the page is up to date.");
  }

  function timedFetch(url, options, ms) {
    var controller = window.AbortController ? new AbortController() : null;
    var timer = null;
    if (controller) {
      options.signal = controller.signal;
      timer = window.setTimeout(function () {
        controller.abort();
      }, ms);
    }
    return window.fetch(url, options).then(
      function (response) {
        window.clearTimeout(timer);
        return response;
      },
      function (error) {
        window.clearTimeout(timer);
        throw error;
      }
    );
  }

  // Is the server there? /healthz answers without touching the database.
  function probe() {
    return timedFetch("/healthz", { cache: "no-store", credentials: "same-origin" }, PROBE_TIMEOUT_MS).then(
      function (response) {
        return response.ok;
      },
      function () {
        return false;
      }
    );
  }

  function unreachable() {
    failures += 1;
    showOffline("Cannot reach the pipepulse server");
  }

  function ownPage(link) {
    if (!link.href || link.target === "_blank" || link.hasAttribute("download")) {
      return false;
    }
    var url = new URL(link.href, window.location.href);
    if (url.origin !== window.location.origin) {
      return false;
    }
    // An anchor on this very page needs no server.
    return !(url.pathname === window.location.pathname && url.search === window.location.search && url.hash);
  }

  // A link followed while the server is gone would show the browser's own error page: look
  // first, and say so on this page instead.
  document.addEventListener("click", function (event) {
    if (event.defaultPrevented || event.button !== 0 || event.metaKey || event.ctrlKey || event.shiftKey || event.altKey) {
      return;
    }
    var link = event.target.closest ? event.target.closest("a[href]") : null;
    if (!link || !ownPage(link)) {
      return;
    }
    event.preventDefault();
    var href = link.href;
    probe().then(function (up) {
      if (up) {
        window.location.assign(href);
        return;
      }
      showOffline("Cannot reach the pipepulse server");
      announce("That page cannot open while the server is unreachable; it will work again once the server is back.");
      scheduleRetry();
    });
  });

  document.addEventListener("submit", function (event) {
    if (offlineSince === null || event.defaultPrevented) {
      return;
    }
    event.preventDefault();
    announce("The server is unreachable; try again once it is back.");
  });

  var retryButton = document.getElementById("offline-retry");
  if (retryButton) {
    retryButton.addEventListener("click", function () {
      check();
    });
  }

  var hasLive = Boolean(live && live.dataset.refreshUrl && window.fetch);
  var timer = null;
  var busy = false;
  var seconds = hasLive ? Number(live.dataset.refreshSeconds) || 30 : 30;

  function schedule(delaySeconds) {
    window.clearTimeout(timer);
    timer = window.setTimeout(check, (delaySeconds || seconds) * 1000);
  }

  function scheduleRetry() {
    schedule(RETRY_SECONDS[Math.min(failures, RETRY_SECONDS.length) - 1] || RETRY_SECONDS[0]);
  }

  // A page with a live region refreshes it; any other page, once it has found the server
  // gone, looks again until it is back.
  function check() {
    if (hasLive) {
      return refresh();
    }
    return probe().then(function (up) {
      if (up) {
        showOnline();
      } else {
        unreachable();
        scheduleRetry();
      }
      return up;
    });
  }

  window.addEventListener("online", function () {
    check();
  });
  window.addEventListener("offline", function () {
    unreachable();
    scheduleRetry();
  });

  if (!hasLive) {
    window.pipepulse = { probe: probe, check: check };
    return;
  }

  function refreshUrl() {
    var state = live.querySelector(".live-state");
    if (state && state.dataset.refreshQuery) {
      return window.location.pathname + state.dataset.refreshQuery;
    }
    return live.dataset.refreshUrl;
  }

  // Where the keyboard is, so the same control has the focus after the swap.
  function focusKey(element) {
    if (!element || element === live || !live.contains(element)) {
      return null;
    }
    if (element.id) {
      return { id: element.id };
    }
    var path = [];
    for (var node = element; node && node !== live; node = node.parentElement) {
      path.unshift(Array.prototype.indexOf.call(node.parentElement.children, node));
    }
    return {
      tag: element.tagName,
      href: element.getAttribute("href"),
      name: element.getAttribute("name"),
      text: (element.textContent || "").trim(),
      path: path,
    };
  }

  function restoreFocus(key) {
    if (!key) {
      return;
    }
    var target = null;
    if (key.id) {
      target = document.getElementById(key.id);
    } else {
      var candidates = live.querySelectorAll(key.tag.toLowerCase());
      for (var i = 0; i < candidates.length && !target; i++) {
        var c = candidates[i];
        if (key.href !== null && c.getAttribute("href") === key.href && (c.textContent || "").trim() === key.text) {
          target = c;
        } else if (key.name !== null && c.getAttribute("name") === key.name) {
          target = c;
        }
      }
      if (!target) {
        target = live;
        for (var j = 0; j < key.path.length && target; j++) {
          target = target.children[key.path[j]];
        }
        if (target && target.tagName !== key.tag) {
          target = null;
        }
      }
    }
    if (target && typeof target.focus === "function") {
      target.focus({ preventScroll: true });
    }
  }

  function statuses(root) {
    var found = {};
    var nodes = root.querySelectorAll("[data-connection-id][data-status], .live-state[data-status]");
    for (var i = 0; i < nodes.length; i++) {
      var node = nodes[i];
      found[node.getAttribute("data-connection-id") || "page"] = {
        status: node.getAttribute("data-status"),
        name: node.getAttribute("data-name") || "",
      };
    }
    return found;
  }

  function word(status) {
    return status ? status.charAt(0).toUpperCase() + status.slice(1) : "";
  }

  function announceChanges(before, after) {
    var said = [];
    Object.keys(after).forEach(function (key) {
      var was = before[key];
      if (was && was.status !== after[key].status) {
        said.push(after[key].name + " is now " + word(after[key].status) + " (was " + word(was.status) + ").");
      }
    });
    if (said.length) {
      announce(said.slice(0, 5).join(" ") + (said.length > 5 ? " And " + (said.length - 5) + " more." : ""));
    }
  }

  function swap(html) {
    var focus = focusKey(document.activeElement);
    var open = [];
    var opened = live.querySelectorAll("details[open][id]");
    for (var i = 0; i < opened.length; i++) {
      open.push(opened[i].id);
    }
    var scrolled = [];
    var scrollers = live.querySelectorAll('[data-scroll="end"], .table-wrap');
    for (var k = 0; k < scrollers.length; k++) {
      var s = scrollers[k];
      scrolled.push({ left: s.scrollLeft, atEnd: s.scrollLeft + s.clientWidth >= s.scrollWidth - 2 });
    }
    var before = statuses(live);

    live.innerHTML = html;

    open.forEach(function (id) {
      var again = document.getElementById(id);
      if (again) {
        again.open = true;
      }
    });
    var fresh = live.querySelectorAll('[data-scroll="end"], .table-wrap');
    for (var m = 0; m < fresh.length && m < scrolled.length; m++) {
      fresh[m].scrollLeft = scrolled[m].atEnd && fresh[m].hasAttribute("data-scroll") ? fresh[m].scrollWidth : scrolled[m].left;
    }
    applyTimes(live);
    restoreFocus(focus);
    announceChanges(before, statuses(live));
    live.dataset.refreshedAt = new Date().toISOString();
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
    var retrySoon = false;
    return timedFetch(
      refreshUrl(),
      {
        credentials: "same-origin",
        cache: "no-store",
        redirect: "manual",
        headers: { Accept: "text/html" },
      },
      FETCH_TIMEOUT_MS
    )
      .then(function (response) {
        if (response.type === "opaqueredirect" || response.status === 401) {
          // The session ended (signed out elsewhere, token revoked): show the sign-in form.
          window.location.reload();
          return false;
        }
        if (response.status >= 500) {
          failures += 1;
          retrySoon = true;
          showOffline(response.status === 503 ? "The server cannot reach its database" : "The server is failing (HTTP " + response.status + ")");
          return false;
        }
        if (!response.ok) {
          return false;
        }
        return response.text().then(function (html) {
          swap(html);
          showOnline();
          return true;
        });
      })
      .catch(function () {
        retrySoon = true;
        unreachable();
        return false;
      })
      .then(function (updated) {
        busy = false;
        if (retrySoon) {
          scheduleRetry();
        } else {
          schedule();
        }
        return updated;
      });
  }

  document.addEventListener("visibilitychange", function () {
    if (!document.hidden) {
      refresh();
    }
  });
  window.pipepulse = { refresh: refresh, probe: probe, check: check };
  schedule();
})();
