// Live bedside scoring: Face Mesh runs in this page; only landmarks leave it (docs/guides/clinicians.md, the live page).
// Client -> server: one optional "hello", binary landmark frames (16 or 5,632 bytes, version 1), "end".
// Server -> client: "window" once per second of capture, "assessment" after "end", "error".
"use strict";

(() => {
  const VERSION = 1;
  const HEADER = 16;
  const POINTS = 468;
  const FRAME_BYTES = HEADER + POINTS * 3 * 4; // 5,632
  const BUFFER_LIMIT = 8 * FRAME_BYTES; // above this the socket is behind: drop frames, keep scoring the newest
  const GRAPH_SECONDS = 60;
  const BACKOFF_MS = [500, 1000, 2000, 4000, 8000];
  const COLOURS = ["#2e7d32", "#a35c00", "#b3261e", "#5e3c99", "#0b57a4"]; // ui.css level colours, AA on white

  const $ = (id) => document.getElementById(id);
  const ui = {
    form: $("live-form"), start: $("start"), stop: $("stop"), status: $("status"), video: $("camera"),
    overlay: $("overlay"), level: $("level"), bars: $("bars"), tally: $("tally"), graph: $("graph"),
    legend: $("legend"), fps: $("fps"), sent: $("sent"), dropped: $("dropped"), warnings: $("warnings"),
    result: $("result"), browserFps: $("browser-fps"), error: $("live-error"),
  };
  const config = JSON.parse($("live-config").textContent);

  let session = null; // {id, socket, sequence, ...} while a session runs

  function say(text) {
    ui.status.textContent = text;
  }

  // A start that failed, in words a nurse can act on, at the top of the form and focused (role=alert).
  function fail(text) {
    ui.error.textContent = text;
    ui.error.hidden = false;
    ui.error.scrollIntoView({ block: "center" });
    ui.error.focus({ preventScroll: true });
    say("Not started. " + text);
  }

  // getUserMedia's DOMException names, as a person at the bedside understands them (the browser's own
  // messages, e.g. "Requested device not found", name no fix).
  function cameraProblem(error) {
    switch (error && error.name) {
      case "NotFoundError":
      case "OverconstrainedError":
        return "No camera was found on this device. Connect a camera, or use a tablet that has one, then press Start again.";
      case "NotAllowedError":
      case "SecurityError":
        return "The browser was not allowed to use the camera. Allow camera access for this site (the camera or lock icon beside the address), then press Start again.";
      case "NotReadableError":
      case "AbortError":
        return "The camera could not be started: another app may be using it. Close other apps that use the camera, then press Start again.";
      default:
        return "The camera could not be started (" + ((error && error.message) || "unknown reason") + "). Check it is connected and allowed for this site, then press Start again.";
    }
  }

  async function openCamera() {
    if (!navigator.mediaDevices || !navigator.mediaDevices.getUserMedia) {
      throw new CameraError("This browser offers the camera only to a secure page: open the gateway over https (or on this device itself), then press Start again.");
    }
    try {
      return await navigator.mediaDevices.getUserMedia({ video: { width: { ideal: 640 }, height: { ideal: 360 } }, audio: false });
    } catch (error) {
      throw new CameraError(cameraProblem(error));
    }
  }

  class CameraError extends Error {}

  // The signed-in UI session authenticates these calls; the form-encoded body carries its CSRF token.
  async function post(path, fields) {
    const body = new URLSearchParams({ ...fields, csrf: config.csrf });
    const response = await fetch(path, { method: "POST", body, credentials: "same-origin", redirect: "error" });
    const answer = await response.json().catch(() => ({}));
    if (!response.ok) throw new Error(answer.detail || answer.title || "HTTP " + response.status);
    return answer;
  }

  // Always this page's own origin (the CSP allows no other): the gateway's public URL may name another host.
  function socketUrl(url) {
    const given = new URL(url, location.href);
    return `${location.protocol === "https:" ? "wss:" : "ws:"}//${location.host}${given.pathname}${given.search}`;
  }

  // ---- binary frames (little-endian; see docs/guides/telehealth.md, the live protocol) ----
  function encodeFrame(sequence, captureMs, landmarks) {
    const face = Boolean(landmarks && landmarks.length >= POINTS);
    const buffer = new ArrayBuffer(face ? FRAME_BYTES : HEADER);
    const view = new DataView(buffer);
    view.setUint8(0, VERSION);
    view.setUint8(1, face ? 1 : 0);
    view.setUint32(4, sequence >>> 0, true);
    view.setFloat64(8, captureMs, true);
    if (face) {
      const xyz = new Float32Array(buffer, HEADER, POINTS * 3);
      for (let i = 0; i < POINTS; i++) {
        const p = landmarks[i];
        xyz[3 * i] = p.x;
        xyz[3 * i + 1] = p.y;
        xyz[3 * i + 2] = p.z;
      }
    }
    return buffer;
  }

  // ---- drawing ----
  function drawMesh(landmarks) {
    const canvas = ui.overlay;
    const w = (canvas.width = ui.video.videoWidth || 640);
    const h = (canvas.height = ui.video.videoHeight || 360);
    const g = canvas.getContext("2d");
    g.clearRect(0, 0, w, h);
    if (!landmarks) return;
    g.strokeStyle = "rgba(0, 220, 255, 0.55)";
    g.lineWidth = 1;
    g.beginPath();
    for (const [a, b] of window.FACEMESH_TESSELATION || []) {
      g.moveTo(landmarks[a].x * w, landmarks[a].y * h);
      g.lineTo(landmarks[b].x * w, landmarks[b].y * h);
    }
    g.stroke();
  }

  function levelsOf(probabilities) {
    return Object.keys(probabilities);
  }

  function showWindow(message) {
    const s = session;
    s.windows.push(message);
    if (s.windows.length > GRAPH_SECONDS) s.windows.shift();
    const time = new Date(message.end).toLocaleTimeString();
    const fps = Number(message.fps || 0).toFixed(1);
    ui.fps.textContent = fps;
    if (message.alert) showAlert(message.alert);
    if (!message.scorable) {
      const li = document.createElement("li");
      li.textContent = `${time}: not scored — ${message.reason || "too few frames"} (${fps} fps, ${message.frames} frames)`;
      ui.warnings.prepend(li);
      while (ui.warnings.children.length > 5) ui.warnings.lastChild.remove();
      ui.level.textContent = "not scored";
      ui.level.dataset.level = "";
    } else {
      // a second unlike the model's calibration data (low typicality): its level may not apply
      ui.level.textContent = message.unfamiliar ? `${message.level} (input unlike the model's training data)` : message.level;
      ui.level.dataset.level = message.level;
      s.tally[message.level] = (s.tally[message.level] || 0) + 1;
      s.scored += 1;
    }
    ui.result.dataset.windows = String(Number(ui.result.dataset.windows || 0) + 1);
    if (message.scorable) drawBars(message);
    drawGraph();
  }

  // A plugin's alert that this second opened (AI-derived, e.g. sustained significant pain): shown until the page is left.
  function showAlert(text) {
    let alert = document.getElementById("live-alert");
    if (!alert) {
      alert = document.createElement("p");
      alert.id = "live-alert";
      alert.className = "alert";
      alert.setAttribute("role", "alert");
      ui.result.after(alert);
    }
    alert.textContent = text;
  }

  function drawBars(message) {
    const probabilities = message.probabilities || {};
    ui.bars.replaceChildren();
    levelsOf(probabilities).forEach((level, i) => {
      const p = probabilities[level];
      const row = document.createElement("div");
      row.className = "level-bar";
      row.innerHTML = `<span class="name"></span><meter min="0" max="1"></meter><span class="value"></span>`;
      row.querySelector(".name").textContent = level;
      row.querySelector("meter").value = p;
      row.querySelector("meter").style.setProperty("--colour", COLOURS[i % COLOURS.length]);
      row.querySelector(".value").textContent = (100 * p).toFixed(0) + " %";
      ui.bars.append(row);
    });
    const total = session.scored;
    ui.tally.textContent = total
      ? "Seconds at each level: " + Object.entries(session.tally).map(([k, v]) => `${k} ${v} (${Math.round((100 * v) / total)} %)`).join(", ")
      : "";
  }

  // The study's Fig. 4: per-second probability of each level over the last minute.
  function drawGraph() {
    const canvas = ui.graph;
    const ratio = window.devicePixelRatio || 1;
    const w = canvas.clientWidth || 600;
    const h = canvas.clientHeight || 200;
    canvas.width = w * ratio;
    canvas.height = h * ratio;
    const g = canvas.getContext("2d");
    g.scale(ratio, ratio);
    g.clearRect(0, 0, w, h);
    const pad = { left: 40, right: 8, top: 10, bottom: 24 };
    const plotW = w - pad.left - pad.right;
    const plotH = h - pad.top - pad.bottom;
    g.strokeStyle = "#999";
    g.fillStyle = "#444";
    g.font = "13px system-ui, sans-serif"; // chart text at least 12 CSS px, as on every other page (ui.css)
    g.beginPath();
    for (const p of [0, 0.5, 1]) {
      const y = pad.top + plotH * (1 - p);
      g.moveTo(pad.left, y);
      g.lineTo(pad.left + plotW, y);
      g.fillText(p.toFixed(1), 4, y + 5);
    }
    g.stroke();
    g.fillText(`last ${GRAPH_SECONDS} s`, pad.left, h - 4);
    const windows = session ? session.windows : [];
    const scored = windows.find((m) => m.probabilities);
    if (!scored) return;
    const x = (i) => pad.left + (plotW * (GRAPH_SECONDS - windows.length + i)) / (GRAPH_SECONDS - 1);
    ui.legend.replaceChildren();
    levelsOf(scored.probabilities).forEach((level, k) => {
      g.strokeStyle = COLOURS[k % COLOURS.length];
      g.lineWidth = 2;
      g.beginPath();
      let drawing = false;
      windows.forEach((m, i) => {
        if (!m.scorable || !m.probabilities) {
          drawing = false; // a gap for an unscored second, not a line through it
          return;
        }
        const y = pad.top + plotH * (1 - m.probabilities[level]);
        if (drawing) g.lineTo(x(i), y);
        else g.moveTo(x(i), y);
        drawing = true;
      });
      g.stroke();
      g.fillStyle = COLOURS[k % COLOURS.length];
      windows.forEach((m, i) => {
        if (m.scorable && m.probabilities) g.fillRect(x(i) - 2, pad.top + plotH * (1 - m.probabilities[level]) - 2, 4, 4); // a lone second shows too
      });
      const item = document.createElement("li");
      item.textContent = level;
      item.style.color = COLOURS[k % COLOURS.length];
      ui.legend.append(item);
    });
    const last = windows[windows.length - 1];
    ui.graph.setAttribute("aria-label", last.scorable
      ? `Probabilities over time; latest second: ${levelsOf(last.probabilities).map((l) => `${l} ${(100 * last.probabilities[l]).toFixed(0)} %`).join(", ")}`
      : "Probabilities over time; latest second not scored");
  }

  // ---- the socket: connect, reconnect with backoff, backpressure ----
  function connect(url) {
    const s = session;
    const socket = new WebSocket(socketUrl(url));
    socket.binaryType = "arraybuffer";
    s.socket = socket;
    socket.onopen = () => {
      s.attempt = 0;
      const settings = ui.video.srcObject && ui.video.srcObject.getVideoTracks()[0].getSettings();
      socket.send(JSON.stringify({ type: "hello", image_size: [ui.video.videoWidth, ui.video.videoHeight], fps: (settings && settings.frameRate) || 30 }));
      say(s.ending ? "Finishing…" : "Streaming landmarks — no images leave this device.");
      if (s.ending) socket.send(JSON.stringify({ type: "end" }));
    };
    socket.onmessage = (event) => {
      if (typeof event.data !== "string") return;
      const message = JSON.parse(event.data);
      if (message.type === "window") showWindow(message);
      else if (message.type === "assessment") finished(message.id);
      else if (message.type === "error") {
        say("Gateway: " + (message.message || message.detail || "error"));
        if (message.fatal) teardown(); // e.g. too few frames for one scored second: nothing was stored
      }
    };
    socket.onclose = (event) => {
      if (session !== s || s.done) return;
      if (event.code === 1008 || event.code === 1003 || (event.code === 1000 && s.ending)) {
        say(`The gateway closed the session (${event.code}${event.reason ? ": " + event.reason : ""}).`);
        teardown();
        return;
      }
      const delay = BACKOFF_MS[Math.min(s.attempt, BACKOFF_MS.length - 1)];
      s.attempt += 1;
      say(`Connection lost; reconnecting in ${(delay / 1000).toFixed(1)} s (attempt ${s.attempt}).`);
      setTimeout(() => resume(s), delay);
    };
  }

  async function resume(s) {
    if (session !== s || s.done) return;
    try {
      const ticket = await post(config.ticket.replace("{id}", encodeURIComponent(s.id)), {});
      connect(ticket.url);
    } catch (error) {
      s.socket = null;
      s.attempt += 1;
      const delay = BACKOFF_MS[Math.min(s.attempt, BACKOFF_MS.length - 1)];
      say(`Reconnecting failed (${error.message}); next try in ${(delay / 1000).toFixed(1)} s.`);
      setTimeout(() => resume(s), delay);
    }
  }

  function onResults(results) {
    const s = session;
    if (!s || !s.pending) return;
    const captureMs = s.pending;
    s.pending = 0;
    const landmarks = results.multiFaceLandmarks && results.multiFaceLandmarks[0];
    drawMesh(landmarks);
    s.processed.push(performance.now());
    while (s.processed.length && s.processed[0] < performance.now() - 2000) s.processed.shift();
    if (s.ending) return;
    const socket = s.socket;
    if (!socket || socket.readyState !== WebSocket.OPEN || socket.bufferedAmount > BUFFER_LIMIT) {
      s.dropped += 1;
      ui.dropped.textContent = String(s.dropped);
      return;
    }
    socket.send(encodeFrame(s.sequence++, captureMs, landmarks));
    ui.sent.textContent = String(s.sequence);
  }

  // The next camera frame, as a task of its own (awaiting Face Mesh alone would chain microtasks and
  // starve the socket and the page); resolves with its capture time in ms since the Unix epoch.
  function nextFrame(video) {
    return new Promise((resolve) => {
      if (video.requestVideoFrameCallback) {
        video.requestVideoFrameCallback((now, meta) => resolve(performance.timeOrigin + (meta.captureTime || now)));
      } else {
        requestAnimationFrame(() => resolve(performance.timeOrigin + performance.now()));
      }
    });
  }

  // One frame at a time, always the newest the camera has: a slow device scores fewer frames, never older ones.
  async function pump(s) {
    let last = 0;
    while (session === s && !s.ending) {
      const captured = await nextFrame(ui.video);
      if (session !== s || s.ending) break;
      s.pending = last = Math.max(captured, last + 0.001); // the protocol wants rising capture times
      await s.mesh.send({ image: ui.video });
    }
  }

  async function start(event) {
    event.preventDefault();
    if (session) return;
    ui.start.disabled = true;
    ui.result.replaceChildren();
    ui.result.dataset.windows = "0";
    ui.warnings.replaceChildren();
    try {
      ui.error.hidden = true;
      say("Starting the camera…");
      const stream = await openCamera();
      ui.video.srcObject = stream;
      await ui.video.play();
      say("Loading Face Mesh…");
      const mesh = new window.FaceMesh({ locateFile: (file) => config.assets + file });
      mesh.setOptions({ maxNumFaces: 1, refineLandmarks: false, minDetectionConfidence: 0.5, minTrackingConfidence: 0.5 });
      await mesh.initialize();
      // One frame before the session opens: the first one builds the graph (seconds on a slow device).
      mesh.onResults(() => {});
      await mesh.send({ image: ui.video });
      mesh.onResults(onResults);
      say("Opening the live session…");
      const created = await post(config.sessions, { system: ui.form.elements.system.value.trim(), value: ui.form.elements.value.value.trim() });
      session = { id: created.id, mesh, stream, sequence: 0, dropped: 0, attempt: 0, pending: 0, processed: [], windows: [], tally: {}, scored: 0 };
      ui.result.dataset.session = created.id;
      connect(created.url);
      ui.stop.disabled = false;
      pump(session);
    } catch (error) {
      fail(error instanceof CameraError ? error.message : "Could not start: " + error.message);
      ui.start.disabled = false;
      if (ui.video.srcObject) ui.video.srcObject.getTracks().forEach((t) => t.stop());
    }
  }

  function stop() {
    const s = session;
    if (!s || s.ending) return;
    s.ending = true;
    ui.stop.disabled = true;
    say("Finishing: the gateway stores the session as one assessment…");
    if (s.socket && s.socket.readyState === WebSocket.OPEN) s.socket.send(JSON.stringify({ type: "end" }));
  }

  function finished(id) {
    const s = session;
    s.done = true;
    const link = document.createElement(config.assessment_link ? "a" : "code");
    if (config.assessment_link) link.href = config.assessment_link.replace("{id}", encodeURIComponent(id));
    link.textContent = config.assessment_link ? "Open the assessment " + id : id;
    link.id = "assessment-link";
    ui.result.replaceChildren("Stored as one assessment: ", link);
    say("Session stored.");
    teardown();
  }

  function teardown() {
    const s = session;
    if (!s) return;
    s.done = true;
    session = null;
    if (s.socket && s.socket.readyState <= WebSocket.OPEN) s.socket.close(1000);
    s.stream.getTracks().forEach((t) => t.stop());
    s.mesh.close();
    ui.start.disabled = false;
    ui.stop.disabled = true;
  }

  setInterval(() => {
    if (session) ui.browserFps.textContent = (session.processed.length / 2).toFixed(1);
  }, 1000);
  ui.form.addEventListener("submit", start);
  ui.stop.addEventListener("click", stop);
})();
