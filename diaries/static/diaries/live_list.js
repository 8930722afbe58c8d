// A list of entries (the home page) keeps the text of each entry being written live: it
// watches them over the diary's socket (see /work/shared/DESIGN.md, "The WebSocket protocol")
// and shows the text so far, then the finished text and status. Without it, the page shows the
// text so far as of its loading.

const PREVIEW_CHARS = 180; // as the page's truncatechars:180
const BACKOFF_START_MS = 500;
const BACKOFF_MAX_MS = 10000;
const REWATCH_AFTER_MS = 1500;

const watched = new Map(); // entry id → {preview, status, text, last, rewatchAt}
for (const preview of document.querySelectorAll("[data-live-entry]")) {
  const id = Number(preview.dataset.liveEntry);
  const item = preview.closest(".entry-item");
  watched.set(id, {
    preview,
    status: item?.querySelector("[data-role=live-status]") ?? null,
    text: null, // unknown until the first snapshot: the page's own text stays meanwhile
    last: 0,
    rewatchAt: 0,
  });
}

let labels = {};
try {
  labels = JSON.parse(document.getElementById("entry-status-labels")?.textContent || "{}");
} catch {
  labels = {};
}

let socket = null;
let attempt = 0;

function show(entry) {
  const text = entry.text ?? "";
  entry.preview.textContent =
    text.length > PREVIEW_CHARS ? `${text.slice(0, PREVIEW_CHARS - 1)}…` : text;
}

function send(message) {
  if (socket?.readyState === WebSocket.OPEN) socket.send(JSON.stringify(message));
}

function watch(id) {
  const entry = watched.get(id);
  if (!entry) return;
  entry.rewatchAt = Date.now();
  send({ action: "watch", entry: id });
}

function rewatch(id) {
  const entry = watched.get(id);
  if (entry && Date.now() - entry.rewatchAt >= REWATCH_AFTER_MS) watch(id);
}

function finish(id, status) {
  const entry = watched.get(id);
  if (!entry) return;
  if (entry.status && status) {
    entry.status.className = `status status-${status}`;
    entry.status.textContent = labels[status] || status;
  }
  watched.delete(id);
  if (watched.size === 0) socket?.close(1000);
}

const handlers = {
  started(frame, entry) {
    entry.text = "";
    entry.last = 0;
    show(entry);
  },
  snapshot(frame, entry) {
    entry.text = frame.text || "";
    entry.last = frame.seq || 0;
    show(entry);
    if (frame.status !== "generating") finish(frame.entry, frame.status);
  },
  delta(frame, entry) {
    if (entry.text === null || frame.seq <= entry.last) return;
    if (frame.seq === entry.last + 1) {
      entry.text += frame.text;
      entry.last = frame.seq;
      show(entry);
    } else {
      rewatch(frame.entry); // a gap: ask for the text so far again
    }
  },
  done(frame, entry) {
    entry.text = frame.text || "";
    show(entry);
    finish(frame.entry, frame.status);
  },
  error(frame) {
    if (frame.code === "rate_limited") setTimeout(() => watch(frame.entry), REWATCH_AFTER_MS);
    else if (frame.code === "not_found") finish(frame.entry, null);
  },
};

function onMessage(event) {
  let frame;
  try {
    frame = JSON.parse(event.data);
  } catch {
    return;
  }
  const entry = watched.get(frame.entry);
  if (entry && handlers[frame.type]) handlers[frame.type](frame, entry);
}

function connect() {
  const scheme = location.protocol === "https:" ? "wss:" : "ws:";
  socket = new WebSocket(`${scheme}//${location.host}/ws/diary/`);
  socket.addEventListener("open", () => {
    attempt = 0;
    for (const id of watched.keys()) watch(id);
  });
  socket.addEventListener("message", onMessage);
  socket.addEventListener("close", () => {
    socket = null;
    if (watched.size === 0) return;
    const ceiling = Math.min(BACKOFF_MAX_MS, BACKOFF_START_MS * 2 ** attempt);
    attempt += 1;
    setTimeout(connect, ceiling / 2 + Math.random() * (ceiling / 2));
  });
}

if (watched.size > 0) connect();
