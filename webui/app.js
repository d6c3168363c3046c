// netstick web UI: one page per device.  Plain JS, no build step.
//
// The API token is kept in sessionStorage (or taken once from a
// "#token=..." link, see `netstick ui-url`) and sent as a bearer token on
// every /api call.  Live state comes from GET /api/v1/events, read with
// fetch() so the token travels in a header, never in a URL.
"use strict";

const TOKEN_KEY = "netstick.token";
const $ = (sel, root = document) => root.querySelector(sel);

const state = { status: null, luns: new Map(), images: [], cards: new Map() };
let lastEventId = null;
let streamAbort = null;

// ---------------------------------------------------------------- token

function takeTokenFromFragment() {
  const m = /(?:^#|&)token=([^&]+)/.exec(location.hash);
  if (m) {
    sessionStorage.setItem(TOKEN_KEY, decodeURIComponent(m[1]));
    history.replaceState(null, "", location.pathname + location.search);
  }
}

const token = () => sessionStorage.getItem(TOKEN_KEY);

function showLogin(message) {
  if (streamAbort) streamAbort.abort();
  $("#login").hidden = false;
  $("#luns").hidden = true;
  $("#logout").hidden = true;
  const e = $("#login-error");
  e.hidden = !message;
  e.textContent = message || "";
  $("#token").focus();
}

// ---------------------------------------------------------------- API

class ApiError extends Error {
  constructor(status, code, message) {
    super(message);
    this.status = status;
    this.code = code;
  }
}

async function api(method, path, body) {
  const headers = { Authorization: "Bearer " + token() };
  if (body !== undefined) headers["Content-Type"] = "application/json";
  let r;
  try {
    r = await fetch(path, { method, headers,
      body: body === undefined ? undefined : JSON.stringify(body) });
  } catch (e) {
    throw new ApiError(0, "network", "cannot reach the device: " + e.message);
  }
  const data = await r.json().catch(() => null);
  if (r.status === 401) {
    sessionStorage.removeItem(TOKEN_KEY);
    showLogin("The token was refused.");
  }
  if (!r.ok) {
    const e = (data && data.error) || {};
    throw new ApiError(r.status, e.code || "http_" + r.status,
                       e.message || r.statusText);
  }
  return data;
}

// ---------------------------------------------------------------- rendering

function fmtSize(n) {
  const u = ["B", "KiB", "MiB", "GiB", "TiB"];
  let i = 0;
  while (n >= 1024 && i < u.length - 1) { n /= 1024; i++; }
  return (i ? n.toFixed(1) : n) + " " + u[i];
}

function fillDl(dl, rows) {
  dl.replaceChildren();
  for (const [k, v] of rows) {
    if (v === null || v === undefined || v === "") continue;
    const dt = document.createElement("dt");
    const dd = document.createElement("dd");
    dt.textContent = k;
    dd.textContent = v;
    dl.append(dt, dd);
  }
}

function renderDevice() {
  const s = state.status;
  if (!s) return;
  const usb = s.usb.enabled ? "USB " + s.usb.state.replace("_", " ") : "USB off (--no-usb)";
  const speed = s.usb.speed && s.usb.speed !== "unknown" ? ", " + s.usb.speed : "";
  $("#device").textContent = `${usb}${speed} · netstickd ${s.version}`;
}

function fillImages(select) {
  const keep = select.value;
  select.replaceChildren();
  for (const im of state.images) {
    const o = document.createElement("option");
    o.value = im.name;
    o.textContent = im.description ? `${im.name} — ${im.description}` : im.name;
    select.append(o);
  }
  if (keep) select.value = keep;
  select.closest("form").hidden = state.images.length === 0;
}

function card(id) {
  let c = state.cards.get(id);
  if (c) return c;
  c = $("#lun-card").content.firstElementChild.cloneNode(true);
  c.dataset.lun = id;
  $(".title", c).textContent = "LUN " + id;
  $(".eject", c).addEventListener("click", () => eject(id, false));
  $(".force", c).addEventListener("click", (ev) => forceClick(id, ev.target));
  $(".insert-catalog", c).addEventListener("submit", (ev) => {
    ev.preventDefault();
    insert(id, { image: $(".image", c).value });
  });
  $(".insert-source", c).addEventListener("submit", (ev) => {
    ev.preventDefault();
    const source = $(".source", c).value.trim();
    if (source) insert(id, { source, readonly: $(".readonly", c).checked });
  });
  fillImages($(".image", c));
  state.cards.set(id, c);
  const list = $("#luns");
  const after = [...list.children].find((e) => Number(e.dataset.lun) > id);
  list.insertBefore(c, after || null);
  return c;
}

function renderLun(l) {
  const c = card(l.id);
  const st = $(".state", c);
  st.textContent = l.state;
  st.className = "badge state state-" + l.state;
  $(".lock", c).hidden = !l.host_lock;
  const m = l.media;
  fillDl($(".media", c), m ? [
    ["Media", m.source],
    ["Image", m.image],
    ["Size", `${fmtSize(m.size)} (${m.blocks} blocks of ${l.block_size})`],
    ["Access", m.readonly ? "read-only" : "read-write"],
  ] : [["Media", l.state === "loading" ? "loading…" : "none (empty drive)"]]);
  const err = $(".lun-error", c);
  err.hidden = !l.error;
  err.textContent = l.error ? "Could not load the media: " + l.error.message : "";
  const busy = l.changing || l.state === "loading" || l.state === "ejecting";
  $(".eject", c).disabled = busy || l.state === "empty";
  $(".force", c).hidden = !l.host_lock || l.state !== "ready";
  for (const b of c.querySelectorAll("form button")) b.disabled = busy;
  const io = l.io;
  fillDl($(".counters", c), [
    ["Read", `${fmtSize(io.read_bytes)} in ${io.reads} calls`],
    ["Written", `${fmtSize(io.write_bytes)} in ${io.writes} calls`],
    ["Errors", `${io.read_errors} read, ${io.write_errors} write`],
    ["Media changes", String(io.media_changes)],
  ]);
}

function message(id, text, bad) {
  const p = $(".message", card(id));
  p.textContent = text || "";
  p.classList.toggle("bad", !!bad);
}

function banner(text) {
  const b = $("#banner");
  b.hidden = !text;
  b.textContent = text || "";
}

// ---------------------------------------------------------------- actions

async function insert(id, body) {
  message(id, "Inserting…");
  try {
    const l = await api("PUT", `/api/v1/luns/${id}/media`, body);
    state.luns.set(id, l);
    renderLun(l);
    message(id, "Inserted " + (l.media.image || l.media.source) + ".");
  } catch (e) {
    message(id, insertError(e), true);
  }
}

function insertError(e) {
  switch (e.code) {
    case "lun_busy": return "Another change on this drive is in progress; try again.";
    case "medium_locked": return "The host is using this drive and prevents its removal: " +
      "eject it on the host first, or force the eject, then insert.";
    case "open_failed": return "The media could not be opened: " + e.message;
    default: return e.message;
  }
}

async function eject(id, force) {
  message(id, force ? "Forcing the eject…" : "Ejecting…");
  try {
    const l = await api("DELETE", `/api/v1/luns/${id}/media${force ? "?force=true" : ""}`);
    state.luns.set(id, l);
    renderLun(l);
    message(id, force ? "Ejected (forced)." : "Ejected.");
  } catch (e) {
    if (e.code === "medium_locked" || e.code === "not_removable") {
      $(".force", card(id)).hidden = false;
      message(id, e.code === "not_removable" ?
        "This drive is a fixed disk; only a forced eject removes its media." :
        "The host is using this drive and prevents its removal. " +
        "Eject it on the host first, or force the eject.", true);
    } else {
      message(id, e.message, true);
    }
  }
}

// A forced eject pulls media out from under the host: ask once more.
function forceClick(id, button) {
  if (button.dataset.armed) {
    delete button.dataset.armed;
    button.textContent = "Force eject";
    eject(id, true);
    return;
  }
  button.dataset.armed = "1";
  button.textContent = "Confirm force eject";
  setTimeout(() => {
    if (button.dataset.armed) {
      delete button.dataset.armed;
      button.textContent = "Force eject";
    }
  }, 5000);
}

// ---------------------------------------------------------------- events

function onEvent(type, data) {
  if (type === "hello") {
    state.status = data.status;
    renderDevice();
    for (const l of data.luns) { state.luns.set(l.id, l); renderLun(l); }
  } else if (type === "lun") {
    state.luns.set(data.lun.id, data.lun);
    renderLun(data.lun);
  } else if (type === "usb" && state.status) {
    state.status.usb.state = data.state;
    renderDevice();
  }
}

function setLive(on) {
  const e = $("#live");
  e.className = "live " + (on ? "on" : "off");
  e.textContent = on ? "live" : "offline";
}

async function readStream(resp) {
  const reader = resp.body.pipeThrough(new TextDecoderStream()).getReader();
  let buf = "", ev = {};
  for (;;) {
    const { value, done } = await reader.read();
    if (done) return;
    buf += value;
    let nl;
    while ((nl = buf.indexOf("\n")) >= 0) {
      const line = buf.slice(0, nl).replace(/\r$/, "");
      buf = buf.slice(nl + 1);
      if (line === "") {
        if (ev.data !== undefined) {
          if (ev.id) lastEventId = ev.id;
          onEvent(ev.event || "message", JSON.parse(ev.data));
        }
        ev = {};
      } else if (!line.startsWith(":")) {
        const i = line.indexOf(":");
        const k = line.slice(0, i), v = line.slice(i + 1).replace(/^ /, "");
        ev[k] = k === "data" && ev.data !== undefined ? ev.data + "\n" + v : v;
      }
    }
  }
}

async function follow() {
  let delay = 500;
  for (;;) {
    streamAbort = new AbortController();
    try {
      const headers = { Authorization: "Bearer " + token() };
      if (lastEventId) headers["Last-Event-ID"] = lastEventId;
      const r = await fetch("/api/v1/events", { headers, signal: streamAbort.signal });
      if (r.status === 401) { sessionStorage.removeItem(TOKEN_KEY); showLogin("The token was refused."); return; }
      if (!r.ok) throw new Error("HTTP " + r.status);
      setLive(true);
      banner("");
      delay = 500;
      await readStream(r);
    } catch (e) {
      if (streamAbort.signal.aborted) return;
    }
    setLive(false);
    banner("Lost the connection to the device; reconnecting…");
    await new Promise((res) => setTimeout(res, delay));
    delay = Math.min(delay * 2, 10000);
  }
}

// ---------------------------------------------------------------- start

async function start() {
  $("#login").hidden = true;
  $("#luns").hidden = false;
  $("#logout").hidden = false;
  try {
    state.images = await api("GET", "/api/v1/images");
    for (const c of state.cards.values()) fillImages($(".image", c));
    state.status = await api("GET", "/api/v1/status");
    renderDevice();
    for (const l of await api("GET", "/api/v1/luns")) { state.luns.set(l.id, l); renderLun(l); }
  } catch (e) {
    if (e.status !== 401) banner(e.message);
    return;
  }
  follow();
}

document.addEventListener("DOMContentLoaded", () => {
  takeTokenFromFragment();
  $("#login-form").addEventListener("submit", (ev) => {
    ev.preventDefault();
    sessionStorage.setItem(TOKEN_KEY, $("#token").value.trim());
    $("#token").value = "";
    start();
  });
  $("#logout").addEventListener("click", () => {
    sessionStorage.removeItem(TOKEN_KEY);
    showLogin("");
  });
  if (token()) start(); else showLogin("");
});
