// Nikki's diary socket: streams an entry as it is written (DESIGN.md, "The WebSocket protocol").
// One small module, no dependencies. Text goes in with textContent only, never as HTML.

const BACKOFF_START_MS = 500;
const BACKOFF_MAX_MS = 10000;
const RESYNC_AFTER_MS = 3000;
// How often the live region tells screen-reader users how far the writing has got.
const PROGRESS_EVERY_MS = 8000;
const ERROR_STATUSES = new Set(["failed", "interrupted", "filtered"]);
// Errors that answer a message; the others end a running generation and precede its `done`.
const REFUSALS = new Set(["bad_request", "not_found", "rate_limited"]);

const root = document.querySelector("[data-diary]");
if (root) start(root);

function start(root) {
  const $ = (role) => root.querySelector(`[data-role="${role}"]`);
  const el = {
    form: $("form"),
    inputs: $("inputs"),
    output: $("output"),
    status: $("status"),
    note: $("note"),
    error: $("error"),
    errorMessage: $("error-message"),
    retry: $("retry"),
    write: $("write"),
    stop: $("stop"),
    entryStatus: $("entry-status"),
    entryLinks: $("entry-links"),
    entryLink: $("entry-link"),
    heading: $("heading"),
    lead: $("lead"),
    notesSummary: $("notes-summary"),
    writerLine: $("writer-line"),
    writerNow: $("writer-now"),
    writerSaved: $("writer-saved"),
    confirm: $("confirm-replace"),
    confirmYes: $("confirm-replace-yes"),
    confirmNo: $("confirm-replace-no"),
  };
  const stringsElement = document.getElementById("diary-strings");
  const strings = stringsElement?.dataset ?? {};
  const t = (key, fallback) => strings[key] || fallback;
  // Error codes in the page's language (present when the server's messages are not).
  const errorText = (code, message) =>
    (code && stringsElement?.getAttribute(`data-error-${code}`)) ||
    message ||
    t("genericError", "The entry could not be written.");
  const isNewPage = root.dataset.mode === "new";

  const state = {
    entry: root.dataset.entry ? Number(root.dataset.entry) : null,
    generation: root.dataset.generation ? Number(root.dataset.generation) : null,
    last: Number(root.dataset.seq || 0),
    writing: root.dataset.isGenerating === "true",
    // A generate not yet answered; re-sent (same request_id) when the socket opens again.
    pending: null,
    // True between `started` (or a "generating" snapshot) and `done`.
    streaming: root.dataset.isGenerating === "true",
    lastInputs: null,
    resyncAt: 0,
    progressAt: 0,
    // The entry's text is the owner's own: writing it again asks first, then says so
    // (`replace_edit`), for this page's later retries too.
    ownText: root.dataset.ownText === "true",
    replaceConfirmed: false,
  };

  // --- rendering: at most one DOM update per animation frame ----------------------------------

  let text = el.output.textContent;
  let appended = "";
  let replaceAll = false;
  let frameRequested = false;

  function setText(value) {
    if (value === text && !appended) return;
    text = value;
    appended = "";
    replaceAll = true;
    scheduleRender();
  }

  function appendText(piece) {
    text += piece;
    appended += piece;
    scheduleRender();
  }

  function scheduleRender() {
    if (frameRequested) return;
    frameRequested = true;
    requestAnimationFrame(render);
  }

  function endIsVisible() {
    const rect = el.output.getBoundingClientRect();
    return rect.bottom <= window.innerHeight + 24;
  }

  function render() {
    frameRequested = false;
    announceProgress();
    // Follow the text only if its end was in view before this update.
    const follow = state.writing && endIsVisible();
    if (replaceAll) {
      el.output.textContent = text;
    } else if (appended) {
      el.output.append(appended); // a Text node: never parsed as HTML
    }
    replaceAll = false;
    appended = "";
    if (follow) {
      const overflow = el.output.getBoundingClientRect().bottom - window.innerHeight + 16;
      if (overflow > 0) window.scrollBy(0, overflow);
    }
  }

  // --- what the person sees besides the text ---------------------------------------------------

  function announce(message) {
    // The aria-live region: status changes only, never every token.
    if (el.status.textContent !== message) el.status.textContent = message;
    state.progressAt = Date.now();
  }

  function announceProgress() {
    // Now and then while writing: "Writing… 240 characters so far".
    if (!state.writing || !text || Date.now() - state.progressAt < PROGRESS_EVERY_MS) return;
    announce(t("progress", "Writing… {count} characters so far").replace("{count}", text.length));
  }

  function showNote(message) {
    el.note.textContent = message || "";
    el.note.hidden = !message;
  }

  function showError(message) {
    el.errorMessage.textContent = message;
    el.error.hidden = false;
    root.classList.add("has-error");
  }

  function hideError() {
    el.error.hidden = true;
    root.classList.remove("has-error");
  }

  function setEntryStatus(status) {
    root.dataset.status = status;
    if (!el.entryStatus) return;
    el.entryStatus.textContent = t(statusKey(status), status);
    el.entryStatus.className = `status status-${status}`;
  }

  function statusKey(status) {
    return `status${status.charAt(0).toUpperCase()}${status.slice(1)}`;
  }

  function updateButtons() {
    const focused = document.activeElement;
    const open = isOpen();
    if (el.write) {
      // Without a socket the new-entry form still submits the ordinary way.
      el.write.disabled = state.writing || (!open && !(isNewPage && state.entry === null));
    }
    if (el.stop) el.stop.disabled = !state.writing || !open || state.entry === null;
    if (el.retry) el.retry.disabled = state.writing || (!open && !(isNewPage && state.entry === null));
    if (el.inputs) el.inputs.disabled = state.entry !== null;
    root.setAttribute("aria-busy", state.writing ? "true" : "false");
    keepFocus(focused);
  }

  let refocus = false;

  function keepFocus(focused) {
    // A button that had the keyboard focus was just disabled (Write while writing, Stop when
    // done): hand the focus to the button that now makes sense, not to the page's top, as soon
    // as there is one — unless the person has moved on to something else meanwhile.
    const active = document.activeElement;
    const lost = !active || active === document.body || active.matches(":disabled");
    if (focused && root.contains(focused) && focused.matches(":disabled")) refocus = true;
    else if (!lost) refocus = false;
    if (!refocus) return;
    const next = [el.stop, el.write, el.retry].find(
      (button) => button && !button.disabled && button.getClientRects().length > 0,
    );
    if (next) {
      next.focus({ preventScroll: true });
      refocus = false;
    }
  }

  function setWriting(writing) {
    state.writing = writing;
    if (writing) setEntryStatus("generating");
    updateButtons();
  }

  function adoptEntry(entryId) {
    if (state.entry !== null || !entryId) return;
    state.entry = entryId;
    root.dataset.entry = String(entryId);
    if (isNewPage) {
      const url = root.dataset.entryUrl.replace(root.dataset.entryUrlPlaceholder, String(entryId));
      // A reload now resumes on the entry's own page.
      history.replaceState(null, "", url);
      if (el.entryLink) el.entryLink.href = url;
      for (const link of root.querySelectorAll("[data-entry-path]")) {
        link.href = url + link.dataset.entryPath;
      }
      if (el.entryLinks) el.entryLinks.hidden = false;
      if (el.write) el.write.textContent = t("regenerate", "Regenerate");
      becomeEntryPage();
    }
    updateButtons();
  }

  function becomeEntryPage() {
    // The new-entry page is now this entry's page: its date as the heading, the notes shown
    // as they were sent instead of a greyed-out form.
    const inputs = state.lastInputs || {};
    const date = inputs.date ? new Date(`${inputs.date}T00:00:00`) : null;
    if (el.heading && date && !Number.isNaN(date.getTime())) {
      const time = document.createElement("time");
      time.dateTime = inputs.date;
      time.textContent = new Intl.DateTimeFormat(document.documentElement.lang || undefined, {
        dateStyle: "long",
      }).format(date);
      el.heading.replaceChildren(time);
      document.title = `${time.textContent} · ${document.title.split(" · ").slice(1).join(" · ")}`;
    }
    if (el.lead) el.lead.hidden = true;
    if (el.inputs) el.inputs.hidden = true;
    if (el.notesSummary) {
      const list = el.notesSummary.querySelector("dl");
      list.replaceChildren();
      for (const name of ["morning", "afternoon", "evening", "notes"]) {
        if (!inputs[name]?.trim()) continue;
        const term = document.createElement("dt");
        term.textContent = root.querySelector(`label[for="id_${name}"]`)?.textContent ?? name;
        const detail = document.createElement("dd");
        detail.textContent = inputs[name];
        list.append(term, detail);
      }
      el.notesSummary.hidden = false;
    }
  }

  // --- the writer line: who wrote the text shown -------------------------------------------------

  function showWriter(source) {
    if (!el.writerLine || !source) return;
    el.writerLine.textContent = source.textContent;
    el.writerLine.closest(".writer-name").hidden = !source.textContent.trim();
  }

  // --- errors on the fields (the notes the form refused) -----------------------------------------

  function clearFieldErrors() {
    for (const list of root.querySelectorAll("[data-field-error]")) list.remove();
    for (const field of root.querySelectorAll("[aria-invalid=true]")) {
      field.removeAttribute("aria-invalid");
      const ids = (field.getAttribute("aria-describedby") || "")
        .split(" ")
        .filter((id) => id && !id.endsWith("_error"));
      if (ids.length) field.setAttribute("aria-describedby", ids.join(" "));
      else field.removeAttribute("aria-describedby");
    }
  }

  function showFieldErrors(fields) {
    clearFieldErrors();
    let first = null;
    for (const [name, messages] of Object.entries(fields)) {
      const field = name === "__all__" ? null : root.querySelector(`#id_${name}`);
      const list = document.createElement("ul");
      list.className = "errorlist";
      list.dataset.fieldError = name;
      for (const message of messages) {
        const item = document.createElement("li");
        item.textContent = message;
        list.append(item);
      }
      if (!field) {
        list.setAttribute("role", "alert");
        el.form.prepend(list);
        continue;
      }
      list.id = `id_${name}_error`;
      field.before(list);
      field.setAttribute("aria-invalid", "true");
      const described = (field.getAttribute("aria-describedby") || "").split(" ").filter(Boolean);
      field.setAttribute("aria-describedby", [...described, list.id].join(" "));
      first ??= field;
    }
    first?.focus();
  }

  function finish(status, { message, finishReason } = {}) {
    const ran = state.streaming; // a generation ended here (not a finished entry's snapshot)
    state.streaming = false;
    setWriting(false);
    setEntryStatus(status);
    if (ran && (status === "done" || (status === "cancelled" && text))) {
      state.ownText = false; // the model's text now: the next Regenerate replaces no edit
      root.dataset.ownText = "false";
      showWriter(el.writerNow);
    } else if (ran) {
      showWriter(el.writerSaved); // the text shown is still what it was
    }
    if (status === "done") {
      announce(t("done", "Done"));
      hideError();
      showNote(finishReason === "length" ? t("length", "") : "");
    } else if (status === "cancelled") {
      announce(t("cancelled", "Stopped — the text so far is kept"));
      hideError();
      showNote("");
    } else if (ERROR_STATUSES.has(status)) {
      // The error frame before `done` carries the message; a snapshot carries it itself.
      if (message) showError(message);
      else if (el.error.hidden) showError(errorText("", ""));
      announce(`${t(statusKey(status), status)}: ${el.errorMessage.textContent}`);
    } else {
      announce(t(statusKey(status), status));
    }
  }

  // --- the socket --------------------------------------------------------------------------------

  let socket = null;
  let attempt = 0;

  function isOpen() {
    return socket !== null && socket.readyState === WebSocket.OPEN;
  }

  function connect() {
    const scheme = location.protocol === "https:" ? "wss:" : "ws:";
    const path = root.dataset.wsPath || "/ws/diary/";
    socket = new WebSocket(`${scheme}//${location.host}${path}`);
    socket.addEventListener("open", onOpen);
    socket.addEventListener("message", onMessage);
    socket.addEventListener("close", onClose);
  }

  function onOpen() {
    attempt = 0;
    showNote("");
    if (state.pending) {
      send(state.pending); // the same request_id: a repeat never starts a second generation
    } else if (state.entry !== null) {
      // Always attach: resumes a running stream, and shows a regeneration another tab starts.
      watch();
    }
    updateButtons();
  }

  function onClose() {
    socket = null;
    // Exponential backoff with jitter: 0.5 s doubling to 10 s.
    const ceiling = Math.min(BACKOFF_MAX_MS, BACKOFF_START_MS * 2 ** attempt);
    const delay = ceiling / 2 + Math.random() * (ceiling / 2);
    attempt += 1;
    if (state.writing || state.pending) announce(t("reconnecting", "Reconnecting…"));
    updateButtons();
    setTimeout(connect, delay);
  }

  function send(message) {
    if (!isOpen()) return false;
    socket.send(JSON.stringify(message));
    return true;
  }

  function watch() {
    state.resyncAt = Date.now();
    send({ action: "watch", entry: state.entry });
  }

  function requestId() {
    if (globalThis.crypto?.randomUUID) return crypto.randomUUID();
    return `r-${Date.now().toString(36)}-${Math.random().toString(36).slice(2, 12)}`;
  }

  function generate(inputs) {
    const message = { action: "generate", request_id: requestId() };
    if (state.entry !== null) message.entry = state.entry;
    else Object.assign(message, inputs || state.lastInputs);
    if (state.entry !== null && state.ownText && state.replaceConfirmed) {
      message.replace_edit = true;
    }
    state.pending = message;
    hideError();
    showNote("");
    setWriting(true);
    announce(t("writing", "Writing…"));
    if (!send(message)) showNote(t("offline", "Not connected."));
  }

  function onMessage(event) {
    let frame;
    try {
      frame = JSON.parse(event.data);
    } catch {
      return;
    }
    const handler = handlers[frame.type];
    if (!handler) return;
    // Frames about another entry (one this socket watched earlier) are not ours to show.
    if (frame.entry != null && state.entry !== null && frame.entry !== state.entry) return;
    handler(frame);
  }

  const handlers = {
    started(frame) {
      state.pending = null;
      adoptEntry(frame.entry);
      state.generation = frame.generation;
      state.last = 0;
      state.streaming = true;
      setText("");
      hideError();
      showWriter(el.writerNow);
      setWriting(true);
      announce(t("writing", "Writing…"));
    },

    snapshot(frame) {
      state.pending = null;
      adoptEntry(frame.entry);
      state.generation = frame.generation;
      state.last = frame.seq;
      state.resyncAt = 0;
      setText(frame.text || "");
      if (frame.status === "generating") {
        state.streaming = true;
        setWriting(true);
        announce(t("writing", "Writing…"));
      } else {
        finish(frame.status, {
          message: frame.code || frame.message ? errorText(frame.code, frame.message) : "",
        });
      }
    },

    delta(frame) {
      if (frame.generation != null && state.generation !== null
          && frame.generation !== state.generation) {
        resync(); // a generation this page has not seen start
        return;
      }
      if (frame.seq <= state.last) return; // already shown
      if (frame.seq === state.last + 1) {
        state.last = frame.seq;
        appendText(frame.text);
        state.streaming = true;
        if (!state.writing) setWriting(true);
        return;
      }
      resync(); // a gap: ask for the text so far again
    },

    done(frame) {
      state.pending = null;
      state.generation = frame.generation;
      setText(frame.text || "");
      finish(frame.status, { finishReason: frame.finish_reason });
    },

    error(frame) {
      if (frame.code === "busy") {
        // Someone (another tab, a double click) is already writing it; the snapshot follows.
        state.pending = null;
        showNote(t("busy", "Already being written — showing it."));
        setWriting(true);
        return;
      }
      if (frame.code === "rate_limited" && state.pending === null && state.streaming) {
        // A watch was dropped; ask again shortly rather than show a stale text.
        setTimeout(watch, 1500);
        return;
      }
      const refused = state.pending !== null || REFUSALS.has(frame.code);
      state.pending = null;
      if (frame.fields && el.form && state.entry === null) {
        // The notes were refused: say so on the fields; nothing failed that Retry would mend.
        showFieldErrors(frame.fields);
        announce(`${t("errorPrefix", "Error:")} ${Object.values(frame.fields).flat().join(" ")}`);
        state.streaming = false;
        setWriting(false);
        return;
      }
      const message = errorText(frame.code, frame.message);
      showError(message);
      announce(`${t("errorPrefix", "Error:")} ${message}`);
      // A running generation's error is followed by its `done`; a refused request ends here.
      if (refused || !state.streaming) {
        state.streaming = false;
        setWriting(false);
      }
    },
  };

  function resync() {
    if (Date.now() - state.resyncAt < RESYNC_AFTER_MS) return; // a watch is already on its way
    watch();
  }

  // --- buttons ---------------------------------------------------------------------------------

  function readInputs() {
    const data = new FormData(el.form);
    const inputs = {};
    for (const name of ["date", "morning", "afternoon", "evening", "notes", "tone", "language"]) {
      const value = data.get(name);
      if (typeof value === "string") inputs[name] = value;
    }
    return inputs;
  }

  if (el.form) {
    el.form.addEventListener("submit", (event) => {
      // Without a socket, a new entry's notes go by the ordinary POST; the entry page then
      // starts writing. Once the entry exists, Write means "regenerate it".
      if (!isOpen() && state.entry === null) return;
      event.preventDefault();
      if (state.writing) return;
      if (state.entry === null) {
        clearFieldErrors();
        state.lastInputs = readInputs();
        generate(state.lastInputs);
      } else {
        askThenGenerate();
      }
      el.output.scrollIntoView({ block: "nearest" });
    });
  } else if (el.write) {
    el.write.addEventListener("click", () => {
      if (!state.writing) askThenGenerate();
    });
  }

  // Nothing replaces the person's own words without asking.
  function askThenGenerate() {
    if (!state.ownText || state.replaceConfirmed || !el.confirm) {
      generate();
      return;
    }
    el.confirm.hidden = false;
    el.confirmNo?.focus();
  }

  el.confirmYes?.addEventListener("click", () => {
    state.replaceConfirmed = true;
    el.confirm.hidden = true;
    generate();
    el.write?.focus();
  });

  el.confirmNo?.addEventListener("click", () => {
    el.confirm.hidden = true;
    el.write?.focus();
  });

  el.stop?.addEventListener("click", () => {
    if (!state.writing || state.entry === null) return;
    if (send({ action: "cancel", entry: state.entry })) {
      announce(t("stopping", "Stopping…"));
      if (document.activeElement === el.stop) refocus = true; // Regenerate gets it when stopped
      el.stop.disabled = true;
    }
  });

  el.retry?.addEventListener("click", () => {
    if (state.writing) return;
    if (state.entry === null && el.form) {
      el.form.requestSubmit(); // nothing saved yet: send the form as it is now
    } else {
      askThenGenerate(); // the saved entry, with the inputs it keeps
    }
  });

  // --- go ----------------------------------------------------------------------------------------

  if (root.dataset.autostart === "true" && state.entry !== null && !state.writing) {
    state.pending = { action: "generate", entry: state.entry, request_id: requestId() };
    setWriting(true);
    announce(t("writing", "Writing…"));
  } else if (state.writing) {
    announce(t("writing", "Writing…"));
  }
  if (!el.error.hidden) root.classList.add("has-error");
  updateButtons();
  connect();
}
