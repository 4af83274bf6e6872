/*
 * Live updates for console pages (server side: console/live.py, console/consumers.py).
 *
 * - Topics come from <body data-live-topics="a b"> and every [data-live-topic] element.
 * - Each message carries the topic's sequence number. A gap, a reconnect or a server restart
 *   (numbers going backwards) makes the page re-fetch every live element ("resync"): a message
 *   the channel layer dropped costs a re-fetch, never a stale page.
 * - A message with `html` is swapped in by id (hx-swap-oob); the elements of its topic that the
 *   html did not replace, and every element of a message without html, re-fetch themselves
 *   through their hx-get (event "live-refresh").
 * - The socket reconnects whatever the close code (Daphne closes idle sockets with 1000, which
 *   htmx's ws extension would not reconnect), with capped, jittered backoff. A ping every 3 s
 *   finds half-open connections, and its pong carries every subscribed topic's current number:
 *   a page that lost the last message of a burst (no later message reveals the gap) sees it
 *   there and re-syncs within about 4 s.
 * - While the socket is down the page polls: every data-live-poll seconds it re-fetches.
 */
(function () {
  "use strict";

  var body = document.body;
  var url = body.getAttribute("data-live-url");
  if (!url) { return; }
  var pollSeconds = parseInt(body.getAttribute("data-live-poll") || "10", 10);
  var indicator = document.getElementById("live-indicator");
  var socket = null;
  var lastSeq = {};        // topic -> last sequence number applied
  var subscribed = {};     // topic -> true once the server confirmed
  var attempts = 0;
  var pollTimer = null;
  var pingTimer = null;
  var awaitingPong = false;
  var pending = new Map(); // element -> timer, to coalesce bursts of refreshes
  var PING_MS = 3000;
  var GRACE_MS = 1000;     // a message still in flight when the pong came is not a loss

  function setState(state, label) {
    if (!indicator) { return; }
    indicator.setAttribute("data-state", state);
    indicator.querySelector(".label").textContent = label || state;
    body.setAttribute("data-live-state", state);
  }

  function topics() {
    var found = {};
    (body.getAttribute("data-live-topics") || "").split(/\s+/).forEach(function (t) {
      if (t) { found[t] = true; }
    });
    document.querySelectorAll("[data-live-topic]").forEach(function (el) {
      el.getAttribute("data-live-topic").split(/\s+/).forEach(function (t) {
        if (t) { found[t] = true; }
      });
    });
    return Object.keys(found);
  }

  function refresh(el) {
    // Several messages in a burst cost one request per element.
    if (pending.has(el)) { return; }
    pending.set(el, setTimeout(function () {
      pending.delete(el);
      if (document.body.contains(el) && window.htmx) { htmx.trigger(el, "live-refresh"); }
    }, 150));
  }

  function topicElements(topic) {
    return Array.prototype.filter.call(document.querySelectorAll("[data-live-topic]"), function (el) {
      return el.getAttribute("data-live-topic").split(/\s+/).indexOf(topic) !== -1;
    });
  }

  function refreshTopic(topic) {
    topicElements(topic).forEach(refresh);
  }

  function resync() {
    document.querySelectorAll("[data-live-topic]").forEach(refresh);
    body.dispatchEvent(new CustomEvent("live-resync"));
  }

  function send(obj) {
    if (socket && socket.readyState === WebSocket.OPEN) { socket.send(JSON.stringify(obj)); }
  }

  function subscribeAll() {
    var wanted = topics().filter(function (t) { return !subscribed[t]; });
    if (wanted.length) { send({ subscribe: wanted }); }
  }

  function onMessage(event) {
    var msg;
    try { msg = JSON.parse(event.data); } catch (e) { return; }
    if (msg.type === "pong") {
      awaitingPong = false;
      checkBehind(msg.seqs || {});
      return;
    }
    if (msg.type === "subscribed") {
      var first = !subscribed[msg.topic];
      subscribed[msg.topic] = true;
      lastSeq[msg.topic] = msg.seq;
      // Whatever happened before this subscription is fetched, not replayed.
      if (first) { refreshTopic(msg.topic); }
      return;
    }
    if (msg.type === "refused") {
      subscribed[msg.topic] = true;  // do not ask again on this page
      return;
    }
    if (msg.type !== "message") { return; }
    var last = lastSeq[msg.topic];
    lastSeq[msg.topic] = msg.seq;
    if (last === undefined || msg.seq <= last) {
      if (last !== undefined && msg.seq < last) { resync(); }  // counter restarted: server restart
      else if (last === undefined) { refreshTopic(msg.topic); }
      return;
    }
    if (msg.seq !== last + 1) {
      resync();  // a gap: something was dropped on the way
      return;
    }
    if (msg.html) {
      // The pushed fragments replace their elements; the topic's other elements re-fetch.
      var before = topicElements(msg.topic);
      htmx.swap(document.body, msg.html, { swapStyle: "none" });
      before.forEach(function (el) { if (document.body.contains(el)) { refresh(el); } });
    } else {
      refreshTopic(msg.topic);
    }
    body.dispatchEvent(new CustomEvent("live-message", { detail: msg }));
  }

  function checkBehind(seqs) {
    var behind = Object.keys(seqs).filter(function (t) {
      return lastSeq[t] !== undefined && seqs[t] > lastSeq[t];
    });
    if (!behind.length) { return; }
    setTimeout(function () {
      var still = behind.some(function (t) { return seqs[t] > lastSeq[t]; });
      if (still) {
        behind.forEach(function (t) { lastSeq[t] = Math.max(lastSeq[t], seqs[t]); });
        resync();
      }
    }, GRACE_MS);
  }

  function startPolling() {
    if (pollTimer) { return; }
    pollTimer = setInterval(resync, pollSeconds * 1000);
  }

  function stopPolling() {
    if (pollTimer) { clearInterval(pollTimer); pollTimer = null; }
  }

  function connect() {
    var scheme = location.protocol === "https:" ? "wss://" : "ws://";
    setState(attempts ? "reconnecting" : "connecting");
    try {
      socket = new WebSocket(scheme + location.host + url);
    } catch (e) {
      scheduleReconnect();
      return;
    }
    socket.onopen = function () {
      var wasReconnect = attempts > 0;
      attempts = 0;
      subscribed = {};
      stopPolling();
      setState("live");
      subscribeAll();
      if (wasReconnect) { resync(); }
      clearInterval(pingTimer);
      awaitingPong = false;
      pingTimer = setInterval(function () {
        if (awaitingPong) { socket.close(4000, "no pong"); return; }
        awaitingPong = true;
        send({ ping: Date.now() });
      }, PING_MS);
    };
    socket.onmessage = onMessage;
    socket.onclose = function () {
      clearInterval(pingTimer);
      socket = null;
      subscribed = {};
      startPolling();
      scheduleReconnect();
    };
    socket.onerror = function () { /* onclose follows and reconnects */ };
  }

  function scheduleReconnect() {
    attempts += 1;
    var delay = Math.min(30000, 500 * Math.pow(2, Math.min(attempts, 6)));
    delay = delay / 2 + Math.random() * delay / 2;
    setState("reconnecting", "reconnecting (polling)");
    setTimeout(connect, delay);
  }

  // New live elements arriving in swapped content may bring new topics.
  document.addEventListener("htmx:afterSettle", subscribeAll);
  document.addEventListener("visibilitychange", function () {
    if (document.visibilityState === "visible" && !socket) { attempts = 0; connect(); }
  });

  window.consoleLive = {
    state: function () { return body.getAttribute("data-live-state"); },
    lastSeq: lastSeq,
    resync: resync
  };

  connect();
})();
