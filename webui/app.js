// netstick web UI: one page per device.  Plain JS, no build step.
//
// The API token is kept in sessionStorage (or taken once from a
// "#token=..." link, see `netstick ui-url`) and sent as a bearer token on
// every /api call.  Live state comes from GET /api/v1/events, read with
// fetch() so the token travels in a header, never in a URL; the rates
// on the LUN cards come from its "stats" events (no polling).
"use strict";

const TOKEN_KEY = "netstick.token";
const $ = (sel, root = document) => root.querySelector(sel);

const state = { status: null, luns: new Map(), images: [], cards: new Map(),
                warm: new Map() };
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
  $("#warm").hidden = true;
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

function fmtRate(bps) {
  return bps >= 1e6 ? (bps / 1e6).toFixed(1) + " MB/s" :
         bps >= 1e3 ? (bps / 1e3).toFixed(0) + " kB/s" :
         Math.round(bps) + " B/s";
}

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
  $(".type", c).textContent = "drive";
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
  $(".insert-seed", c).addEventListener("submit", (ev) => {
    ev.preventDefault();
    insertSeed(id, c);
  });
  fillImages($(".image", c));
  state.cards.set(id, c);
  const list = $("#luns");
  const after = [...list.children].find((e) => Number(e.dataset.lun) > id);
  list.insertBefore(c, after || null);
  return c;
}

// Keeps and shows a LUN's snapshot unless it is older than the one shown:
// an insert's or eject's answer and the events of a later change can
// arrive in either order, and media_generation only grows.  A whole
// snapshot (hello, GET /luns) always wins: a restarted daemon counts anew.
function setLun(l, whole) {
  const known = state.luns.get(l.id);
  if (!whole && known && l.media_generation < known.media_generation) return;
  state.luns.set(l.id, l);
  renderLun(l);
}

function renderLun(l) {
  const c = card(l.id);
  const ty = $(".type", c);
  ty.textContent = l.type === "cdrom" ? "CD/DVD drive" : "disk";
  ty.className = "badge type type-" + (l.type || "disk");
  $(".readonly-wrap", c).hidden = l.type === "cdrom";
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
    ...(m.profile ? [["Disc", m.profile === "dvd-rom" ? "DVD-ROM" : "CD-ROM"]] : []),
  ] : [["Media", l.state === "loading" ? "loading…" : "none (empty drive)"]]);
  const err = $(".lun-error", c);
  err.hidden = !l.error;
  err.textContent = l.error ? "Could not load the media: " + l.error.message : "";
  const busy = l.changing || l.state === "loading" || l.state === "ejecting";
  $(".eject", c).disabled = busy || l.state === "empty";
  // Offered while the host holds the drive, or after a refused eject
  // (kept across the "changing" events that the refusal itself causes).
  if (l.state !== "ready") delete c.dataset.forceOffered;
  $(".force", c).hidden = l.state !== "ready" ||
    !(l.host_lock || c.dataset.forceOffered);
  for (const b of c.querySelectorAll("form button")) b.disabled = busy;
  renderCounters(c, l);
  renderLayers(c, l.layers);
}

function renderCounters(c, l) {
  const io = l.io;
  fillDl($(".counters", c), [
    ["Read", `${fmtSize(io.read_bytes)} in ${io.reads} calls`],
    ["Written", `${fmtSize(io.write_bytes)} in ${io.writes} calls`],
    ["Errors", `${io.read_errors} read, ${io.write_errors} write`],
    ["Media changes", String(io.media_changes)],
    ...(l.host_eject ? [["Host ejects", `${l.host_eject.requests} asked, ` +
      `${l.host_eject.refused} refused` +
      (l.host_eject.allowed ? "" : " (not allowed by the config)")]] : []),
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

// ---------------------------------------------------------------- layers
//
// What the layers of the media report ("layers": {"cache": {...}, ...}),
// shown generically: known keys get a friendly label, *_bytes a size.

const LAYER_LABELS = {
  hits: "Hits", misses: "Misses", backend_bytes: "From backend",
  backend_reads: "Backend reads", in_flight: "In flight",
  inflight_waits: "Waits on in-flight reads", bypass: "Bypassed",
  evictions: "Evictions", cache_bytes: "Cached", cache_limit_bytes: "Cache size",
  ghosts: "Ghost entries", ra_window_bytes: "Read-ahead window",
  ra_streams: "Read-ahead streams", ra_bytes: "Read ahead", ra_hits: "Read-ahead hits",
  ra_wasted: "Read-ahead wasted", rtt_us: "Round trip", bandwidth_bytes: "Backend bandwidth",
  image_bytes: "This image cached", store_bytes: "Cache used",
  store_limit_bytes: "Cache size", overlay_bytes: "Overlay used",
  overlay_limit_bytes: "Overlay size", writes: "Writes", write_bytes: "Written",
  rmw_reads: "Read-modify-write reads", full_errors: "Overlay full errors",
  read_overlay_bytes: "Read from overlay", read_below_bytes: "Read from below",
};

function layerValue(key, v) {
  if (key === "rtt_us") return (v / 1000).toFixed(1) + " ms";
  if (key === "bandwidth_bytes") return fmtRate(v);
  if (key.endsWith("_bytes")) return fmtSize(v);
  return String(v);
}

function layerLabel(key) {
  const s = key.replace(/_/g, " ");
  return LAYER_LABELS[key] || s.charAt(0).toUpperCase() + s.slice(1);
}

const hitRatio = (st) => st.hits + st.misses ?
  (100 * st.hits / (st.hits + st.misses)).toFixed(1) + " %" : null;

function layerRows(st) {
  const rows = [];
  for (const [k, v] of Object.entries(st)) {
    rows.push([layerLabel(k), layerValue(k, v)]);
    if (k === "misses" && "hits" in st) rows.push(["Hit ratio", hitRatio(st) || "—"]);
  }
  return rows;
}

// A line for the summary: hit ratio, bytes from backend, in flight.
function layersSummary(layers, warmBytes) {
  const parts = [];
  for (const [name, st] of Object.entries(layers)) {
    const p = [];
    if ("hits" in st && hitRatio(st)) p.push(hitRatio(st) + " hits");
    if ("backend_bytes" in st) p.push(fmtSize(st.backend_bytes) + " from backend");
    if (st.in_flight) p.push(st.in_flight + " in flight");
    parts.push(name + (p.length ? ": " + p.join(", ") : ""));
  }
  if (warmBytes) parts.push("warm jobs: " + fmtSize(warmBytes) + " from backend");
  return parts.join(" · ");
}

// layers: the LUN object's; what warm jobs fetched for the LUN (from the
// "stats" events) shows as one more section.
function renderLayers(c, layers) {
  const r = rates.get(Number(c.dataset.lun));
  const warmBytes = r && r.base ? r.base.warm : null;
  const all = Object.assign({}, layers || {},
    warmBytes ? { "warm jobs": { backend_bytes: warmBytes } } : {});
  const d = $(".layers", c);
  d.hidden = !Object.keys(all).length;
  if (d.hidden) return;
  $(".layers-summary", d).textContent = layersSummary(layers || {}, warmBytes);
  const box = $(".layer-stats", d);
  box.replaceChildren();
  for (const [name, st] of Object.entries(all)) {
    const sec = document.createElement("section");
    const h = document.createElement("h3");
    const dl = document.createElement("dl");
    sec.className = "layer layer-" + name.replace(/ /g, "-");
    h.textContent = name;
    fillDl(dl, layerRows(st));
    sec.append(h, dl);
    box.append(sec);
  }
}

// ---------------------------------------------------------------- rates
//
// A "stats" event carries a LUN's counters read at ts_ms (the daemon's
// monotonic clock); they were the previous ones until since_ms.  So the
// rate since the values we hold (read at base.t) is their difference over
// ts_ms - max(since_ms, base.t): exact however long the LUN was idle.
// Held values older than prev_ts_ms (an event skipped by a slow stream)
// were not those of since_ms: then over ts_ms - base.t.
// "hello" gives the base (its ts_ms).  Each LUN keeps the rates of the
// last RATE_WINDOW_MS as steps [t0, t]; no step is idle.

const RATE_WINDOW_MS = 60000;
const RATE_STALE_MS = 2500;     // no event for this long: the LUN is idle
const rates = new Map();        // lun id -> {base, steps, backendSeen}
let clockOffset = 0;            // performance.now() - daemon ms

// Bytes the media's layers fetched from its backend: the bottom-most
// layer that counts them (layers are listed top first), or null.
function layerBackendBytes(layers) {
  let n = null;
  for (const st of Object.values(layers || {}))
    if ("backend_bytes" in st) n = st.backend_bytes;
  return n;
}

// "From backend" adds what warm jobs fetched for the LUN (their own
// stack, not the media's), which "hello" does not carry: null there.
function rateBase(ts, io, layers, warm) {
  return { t: ts, read: io.read_bytes, write: io.write_bytes,
           layer: layerBackendBytes(layers),
           warm: warm && warm.backend_bytes !== undefined ? warm.backend_bytes : null };
}

const daemonNow = () => performance.now() - clockOffset;

function rateEntry(id) {
  let r = rates.get(id);
  if (!r) rates.set(id, r = { base: null, steps: [], backendSeen: false });
  return r;
}

function ratesHello(data) {
  if (typeof data.ts_ms !== "number") return;
  clockOffset = performance.now() - data.ts_ms;
  for (const l of data.luns) rateEntry(l.id).base = rateBase(data.ts_ms, l.io, l.layers, null);
}

// Per second from before to now over dt ms; a counter that went back
// (new media: fresh layer counters) counts as nothing.
const perSec = (now, before, dt) =>
  now === null || before === null || now < before ? 0 : (now - before) * 1000 / dt;

function onStats(ev) {
  const r = rateEntry(ev.lun);
  const now = rateBase(ev.ts_ms, ev.io, ev.layers, ev.warm);
  clockOffset = performance.now() - ev.ts_ms;
  const b = r.base;
  if (b && now.t > b.t) {
    const t0 = b.t < ev.prev_ts_ms ? b.t : Math.max(ev.since_ms, b.t);
    const dt = now.t - t0;
    if (dt > 0) r.steps.push({ t0, t: now.t, read: perSec(now.read, b.read, dt),
                               write: perSec(now.write, b.write, dt),
                               backend: perSec(now.layer, b.layer, dt) +
                                        perSec(now.warm, b.warm, dt) });
  }
  if (now.layer !== null || now.warm) r.backendSeen = true;
  r.base = now;
  while (r.steps.length && r.steps[0].t < now.t - RATE_WINDOW_MS) r.steps.shift();
  const l = state.luns.get(ev.lun);
  if (l) {
    l.io = ev.io;
    l.layers = ev.layers;
    renderCounters(card(ev.lun), l);
    renderLayers(card(ev.lun), ev.layers);
  }
  renderRates(ev.lun);
}

// The step line of one series: 0 between steps and after the last one.
function stepPoints(steps, key, now, x, y) {
  const pts = [];
  let end = now - RATE_WINDOW_MS;
  pts.push([end, 0]);
  for (const s of steps) {
    if (s.t0 > end) pts.push([end, 0], [s.t0, 0]);
    pts.push([Math.max(s.t0, now - RATE_WINDOW_MS), s[key]], [s.t, s[key]]);
    end = s.t;
  }
  pts.push([end, 0], [now, 0]);
  return pts.map(([t, v]) => x(t).toFixed(1) + "," + y(v).toFixed(1)).join(" ");
}

// 1, 2 or 5 times a power of ten, at least v.
function niceMax(v) {
  if (v <= 1000) return 1000;
  const p = Math.pow(10, Math.floor(Math.log10(v)));
  return [1, 2, 5, 10].map((m) => m * p).find((m) => m >= v);
}

function renderRates(id) {
  const c = state.cards.get(id), r = rates.get(id);
  if (!c || !r) return;
  const now = daemonNow();
  const steps = r.steps.filter((s) => s.t > now - RATE_WINDOW_MS);
  const last = steps[steps.length - 1];
  const fresh = last && now - last.t < RATE_STALE_MS;
  const cur = (k) => (fresh ? last[k] : 0);
  const peak = Math.max(0, ...steps.map((s) => Math.max(s.read, s.write, s.backend)));
  const top = niceMax(peak);
  const x = (t) => ((t - (now - RATE_WINDOW_MS)) / RATE_WINDOW_MS) * 600;
  const y = (v) => 100 - (v / top) * 96;
  const svg = $(".rate-graph", c);
  for (const k of ["read", "write", "backend"]) {
    $(`polyline.${k}`, svg).setAttribute("points", stepPoints(steps, k, now, x, y));
    $(".rate-" + k, c).textContent = fmtRate(cur(k));
  }
  $(".key.backend", c).hidden = !r.backendSeen;
  $("polyline.backend", svg).style.display = r.backendSeen ? "" : "none";
  $(".axis-max", c).textContent = fmtRate(top);
  c.dataset.rateRead = Math.round(cur("read"));
  c.dataset.rateWrite = Math.round(cur("write"));
  c.dataset.rateBackend = Math.round(cur("backend"));
  svg.setAttribute("aria-label", `Rates over the last 60 seconds: now read ${fmtRate(cur("read"))}, ` +
    `write ${fmtRate(cur("write"))}` +
    (r.backendSeen ? `, from backend ${fmtRate(cur("backend"))}` : "") +
    `; peak ${fmtRate(peak)}`);
}

// The graphs slide on while the page is looked at, events or not.
setInterval(() => {
  if (document.visibilityState === "visible")
    for (const id of rates.keys()) renderRates(id);
}, 1000);

// ---------------------------------------------------------------- actions

async function insert(id, body) {
  message(id, "Inserting…");
  try {
    const l = await api("PUT", `/api/v1/luns/${id}/media`, body);
    setLun(l);
    message(id, "Inserted " + (l.media.image || l.media.source) + ".");
  } catch (e) {
    message(id, insertError(e), true);
  }
}

// A chosen file as a seed file: UTF-8 text without NUL goes as text
// (templates expand in it), anything else as base64.
async function seedFile(f) {
  const bytes = new Uint8Array(await f.arrayBuffer());
  if (!bytes.includes(0)) {
    try {
      return new TextDecoder("utf-8", { fatal: true }).decode(bytes);
    } catch (e) { /* not text: base64 below */ }
  }
  let bin = "";
  for (let i = 0; i < bytes.length; i += 0x8000)
    bin += String.fromCharCode(...bytes.subarray(i, i + 0x8000));
  return { base64: btoa(bin) };
}

async function insertSeed(id, c) {
  const chosen = [...$(".seed-files", c).files];
  if (!chosen.length) {
    message(id, "Choose the files for the drive first.", true);
    return;
  }
  const files = {};
  for (const f of chosen) files[f.name] = await seedFile(f);
  const seed = { kind: $(".seed-kind", c).value, files };
  const label = $(".seed-label", c).value.trim();
  if (label) seed.label = label;
  if (!$(".seed-template", c).checked) seed.template = false;
  await insert(id, { seed });
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
    setLun(l);
    message(id, force ? "Ejected (forced)." : "Ejected.");
  } catch (e) {
    if (e.code === "medium_locked" || e.code === "not_removable") {
      card(id).dataset.forceOffered = "1";
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

// ---------------------------------------------------------------- warm jobs
//
// A warm job fills the persistent cache in the background (POST
// /api/v1/warm); its progress arrives as "warm" events, so the bars move
// without polling.

const ENDED = new Set(["done", "failed", "cancelled"]);
const dismissed = new Set();   // ended jobs removed here: later events ignored

function fillWarmImages() {
  const sel = $("#warm-image"), keep = sel.value;
  sel.replaceChildren(new Option("— path or URL instead —", ""));
  for (const im of state.images) sel.append(new Option(im.name, im.name));
  sel.value = keep;
}


function warmInfo(j) {
  if (j.state === "failed") return j.error;
  if (!j.bytes_total) return j.state === "cancelled" ? "cancelled before it started" : "opening…";
  const parts = [`${fmtSize(j.bytes_done)} of ${fmtSize(j.bytes_total)}`];
  if (j.rate) parts.push(fmtRate(j.rate) + (ENDED.has(j.state) ? " on average" : ""));
  if (j.eta_s !== null && j.eta_s !== undefined) parts.push(`${j.eta_s} s left`);
  if (j.rate_limit) parts.push("limit " + fmtRate(j.rate_limit));
  return parts.join(" · ");
}

function warmRow(id) {
  let li = $(`#warm-jobs li[data-job="${id}"]`);
  if (li) return li;
  li = $("#warm-job").content.firstElementChild.cloneNode(true);
  li.dataset.job = id;
  $(".job-cancel", li).addEventListener("click", () => warmCancel(id));
  const list = $("#warm-jobs");
  const after = [...list.children].find((e) => Number(e.dataset.job) < id);
  list.insertBefore(li, after || null);
  return li;
}

function renderWarm(j) {
  // An ended job never runs again: a reply that left the daemon before the
  // event that ended it (DELETE's answer while the job stops) is stale.
  const known = state.warm.get(j.id);
  if (known && ENDED.has(known.state) && !ENDED.has(j.state)) return;
  state.warm.set(j.id, j);
  const li = warmRow(j.id);
  $(".job-name", li).textContent = `#${j.id} ${j.image || j.source}`;
  const st = $(".job-state", li);
  st.textContent = j.state;
  st.className = "badge job-state state-" + j.state;
  const bar = $(".job-bar", li);
  if (j.bytes_total) bar.value = Math.round(1000 * j.bytes_done / j.bytes_total);
  else bar.removeAttribute("value");   /* indeterminate while opening */
  bar.title = warmInfo(j);
  $(".job-info", li).textContent = warmInfo(j);
  const b = $(".job-cancel", li);
  b.textContent = ENDED.has(j.state) ? "Dismiss" : "Cancel";
  b.classList.toggle("danger", !ENDED.has(j.state));
  b.classList.toggle("quiet", ENDED.has(j.state));
}

function warmMessage(text, bad) {
  const p = $("#warm-message");
  p.textContent = text || "";
  p.classList.toggle("bad", !!bad);
}

async function warmStart() {
  const body = {}, image = $("#warm-image").value;
  const source = $("#warm-source").value.trim();
  if (source) body.source = source; else if (image) body.image = image;
  else { warmMessage("Choose an image or type a path or URL.", true); return; }
  const mib = parseInt($("#warm-mib").value, 10), rate = parseInt($("#warm-rate").value, 10);
  if (mib > 0) body.mib = mib;
  if (rate > 0) body.rate_mib = rate;
  warmMessage("Starting…");
  try {
    const j = await api("POST", "/api/v1/warm", body);
    renderWarm(j);
    warmMessage(`Warming ${j.image || j.source}.`);
  } catch (e) {
    warmMessage(e.code === "no_cache" ?
      "No drive of this device has a persistent cache (a pcache layer in its config): " +
      "there is nowhere to warm into." : e.message, true);
  }
}

async function warmCancel(id) {
  const j = state.warm.get(id);
  try {
    const now = await api("DELETE", `/api/v1/warm/${id}`);
    if (j && ENDED.has(j.state)) {
      dismissed.add(id);
      state.warm.delete(id);
      warmRow(id).remove();
    } else {
      renderWarm(now);
    }
  } catch (e) {
    warmMessage(e.message, true);
  }
}

// ---------------------------------------------------------------- events

function onEvent(type, data) {
  if (type === "hello") {
    state.status = data.status;
    renderDevice();
    for (const l of data.luns) setLun(l, true);
    ratesHello(data);
    for (const j of data.warm || []) if (!dismissed.has(j.id)) renderWarm(j);
  } else if (type === "stats") {
    onStats(data);
  } else if (type === "warm") {
    if (data.warm && !dismissed.has(data.warm.id)) renderWarm(data.warm);
  } else if (type === "lun") {
    setLun(data.lun);
    if (data.change === "eject_request")
      message(data.lun.id, data.lun.host_eject.allowed ?
        "The host asked to eject the media." :
        "The host asked to eject the media (refused by the config).");
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
    for (const l of await api("GET", "/api/v1/luns")) setLun(l, true);
    fillWarmImages();
    for (const j of await api("GET", "/api/v1/warm")) renderWarm(j);
    $("#warm").hidden = false;
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
  $("#warm-form").addEventListener("submit", (ev) => {
    ev.preventDefault();
    warmStart();
  });
  $("#logout").addEventListener("click", () => {
    sessionStorage.removeItem(TOKEN_KEY);
    showLogin("");
  });
  if (token()) start(); else showLogin("");
});
