// Progressive enhancement only: every page works without this file.
"use strict";

// Statuses after which a message no longer changes (core/message.py FINAL, plus rejected).
const FINAL = new Set(["delivered", "undelivered", "failed", "expired", "cancelled", "rejected"]);
const POLL_MS = 2000;

// --- SMS part counter: the rules of core/encoding.py -----------------------------------
// GSM-7: 160 septets in one part, 153 per part when concatenated; extension characters take
// two septets and an escape pair never straddles two parts. UCS-2: 70 UTF-16 units in one
// part, 67 per part; a surrogate pair never straddles two parts.
function countParts(text, basic, ext) {
  let gsm = true;
  let units = 0;
  for (const ch of text) {
    if (basic.has(ch)) units += 1;
    else if (ext.has(ch)) units += 2;
    else { gsm = false; break; }
  }
  if (gsm) return { encoding: "GSM-7", units, parts: gsmParts(text, basic, units) };
  const u16 = text.length; // JavaScript strings are UTF-16 code units already
  return { encoding: "UCS-2", units: u16, parts: ucs2Parts(text, u16) };
}

function gsmParts(text, basic, units) {
  if (units <= 160) return 1;
  let parts = 1;
  let used = 0;
  for (const ch of text) {
    const width = basic.has(ch) ? 1 : 2;
    if (used + width > 153) { parts += 1; used = 0; }
    used += width;
  }
  return parts;
}

function ucs2Parts(text, units) {
  if (units <= 70) return 1;
  let parts = 1;
  let used = 0;
  for (const ch of text) {
    const width = ch.length; // 2 for an astral character (surrogate pair)
    if (used + width > 67) { parts += 1; used = 0; }
    used += width;
  }
  return parts;
}

function setupCounter(area) {
  const basic = new Set(Array.from(area.dataset.gsmBasic || ""));
  const ext = new Set(Array.from(area.dataset.gsmExt || ""));
  const out = document.getElementById("counter");
  if (!out) return;
  const update = () => {
    const c = countParts(area.value, basic, ext);
    const per = c.encoding === "GSM-7" ? (c.parts > 1 ? 153 : 160) : (c.parts > 1 ? 67 : 70);
    out.textContent = `${c.units} ${c.encoding === "GSM-7" ? "septets" : "UTF-16 units"}, ` +
      `${c.encoding}, ${c.parts} part${c.parts === 1 ? "" : "s"} (${per} per part)`;
    out.dataset.parts = String(c.parts);
    out.dataset.encoding = c.encoding;
  };
  area.addEventListener("input", update);
  update();
}

// --- Live refresh -----------------------------------------------------------------------
function stillMoving(root) {
  const rows = root.querySelectorAll("[data-status]");
  return Array.from(rows).some((r) => !FINAL.has(r.dataset.status));
}

async function fetchText(url) {
  const response = await fetch(url, { credentials: "same-origin", headers: { Accept: "text/html" } });
  if (!response.ok || response.redirected) throw new Error(`refresh: ${response.status}`);
  return response.text();
}

function liveFragment(el) {
  // A table body refreshed from the same page asked for its rows only.
  const url = new URL(el.dataset.src, window.location.href);
  url.searchParams.set("fragment", "1");
  const always = !el.querySelector("[data-status]") && el.closest("#connectors");
  const tick = async () => {
    try {
      el.innerHTML = await fetchText(url);
    } catch (err) {
      return; // signed out or server gone: stop quietly, the page still shows its last state
    }
    if (always || stillMoving(el)) window.setTimeout(tick, POLL_MS);
  };
  if (always || stillMoving(el)) window.setTimeout(tick, POLL_MS);
}

function livePage(el) {
  // A message page: reload it and swap the facts and the timeline until the status is final.
  const tick = async () => {
    let doc;
    try {
      doc = new DOMParser().parseFromString(await fetchText(window.location.href), "text/html");
    } catch (err) {
      return;
    }
    for (const id of ["facts", "timeline"]) {
      const fresh = doc.getElementById(id);
      const old = document.getElementById(id);
      if (fresh && old) old.replaceWith(fresh);
    }
    const facts = document.getElementById("facts");
    if (facts && facts.dataset.live === "on") window.setTimeout(tick, POLL_MS);
  };
  window.setTimeout(tick, POLL_MS);
}

document.addEventListener("DOMContentLoaded", () => {
  for (const area of document.querySelectorAll("textarea[data-sms-counter]")) setupCounter(area);
  for (const select of document.querySelectorAll("select[data-autosubmit]")) {
    select.addEventListener("change", () => select.form.submit());
  }
  for (const form of document.querySelectorAll("form[data-confirm]")) {
    form.addEventListener("submit", (event) => {
      if (!window.confirm(form.dataset.confirm)) event.preventDefault();
    });
  }
  for (const el of document.querySelectorAll("[data-live='on']")) {
    if (el.dataset.src) liveFragment(el);
    else livePage(el);
  }
});
