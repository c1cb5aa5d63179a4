// vfx-ingest ui: the flipbook, the run page and the clean-up buttons. No dependencies.
"use strict";

const $ = (id) => document.getElementById(id);

async function postJSON(url, body) {
  const response = await fetch(url, {
    method: "POST",
    headers: { "content-type": "application/json" },
    body: JSON.stringify(body || {}),
  });
  return [response.status, await response.json()];
}

// ---- flipbook ----------------------------------------------------------------------
function flipbook() {
  const data = JSON.parse($("shot-data").textContent);
  const frames = data.frames;
  const scrub = $("scrub"), number = $("frame-number"), play = $("play");
  const a = $("frame-a"), b = $("frame-b"), layerA = $("layer-a"), layerB = $("layer-b");
  const wipe = $("wipe"), preload = new Map();
  let index = 0, timer = null;
  scrub.max = Math.max(frames.length - 1, 0);

  const url = (layer, frame) =>
    `${data.proxy}?layer=${encodeURIComponent(layer)}&frame=${frame}`;
  const has = (layer, frame) => layer && (data.layers[layer] || []).includes(frame);

  function warm(frame) {
    // Fetch the next frames ahead of playback so it keeps the shot's rate.
    for (const layer of [layerA.value, layerB.value]) {
      if (!has(layer, frame)) continue;
      const key = url(layer, frame);
      if (!preload.has(key)) { const img = new Image(); img.src = key; preload.set(key, img); }
    }
  }

  function show() {
    const frame = frames[index];
    number.textContent = frame === undefined ? "-" : String(frame);
    scrub.value = index;
    a.src = has(layerA.value, frame) ? url(layerA.value, frame) : "data:,";
    a.dataset.frame = frame; a.dataset.layer = layerA.value;
    b.hidden = !layerB.value; $("wipe-label").hidden = !layerB.value;
    if (layerB.value) {
      b.src = has(layerB.value, frame) ? url(layerB.value, frame) : "data:,";
      b.style.clipPath = `inset(0 0 0 ${wipe.value}%)`;
    }
    for (let ahead = 1; ahead <= 4; ahead++) warm(frames[(index + ahead) % frames.length]);
  }

  function stop() { clearInterval(timer); timer = null; play.textContent = "play"; }
  function step() {
    if (index + 1 < frames.length) index += 1;
    else if ($("loop").checked) index = 0;
    else { stop(); return; }
    show();
  }
  play.addEventListener("click", () => {
    if (timer) { stop(); return; }
    timer = setInterval(step, 1000 / data.fps);
    play.textContent = "pause";
  });
  scrub.addEventListener("input", () => { index = Number(scrub.value); show(); });
  wipe.addEventListener("input", show);
  layerB.addEventListener("change", show);
  layerA.addEventListener("change", async () => {
    show();
    const range = $("depth-range");
    range.textContent = "";
    if (layerA.value === "depth") {
      const r = await (await fetch(data.depthRange)).json();
      const what = r.values === "metric_depth_m" ? "depth (m)" : "disparity";
      range.textContent = `${what} ${r.low.toPrecision(4)} … ${r.high.toPrecision(4)}, near warm`;
    }
  });
  show();
}

// ---- run page ------------------------------------------------------------------------
function runPage() {
  const form = $("run-form"), status = $("run-status"), progress = $("progress");
  let estimateTimer = null, runId = null;

  const chosenStages = () =>
    [...form.querySelectorAll("input[name=stages]:checked")].map((box) => box.value);

  function estimate() {
    clearTimeout(estimateTimer);
    estimateTimer = setTimeout(async () => {
      const clip = $("clip").value.trim();
      if (!clip) return;
      $("estimate").textContent = "estimating…";
      const query = new URLSearchParams({
        clip, stages: chosenStages().join(","), backend: $("backend").value, gpu: $("gpu").value,
      });
      const r = await (await fetch(`/api/estimate?${query}`)).json();
      if (r.error) { $("estimate").textContent = r.error; return; }
      const rows = r.estimates || [];
      const best = rows.find((row) => row.cheapest) || rows[0];
      $("estimate").textContent = best
        ? `$${best.usd.toFixed(4)} on ${best.backend} ${best.gpu}, about ${best.wall_s.toFixed(0)} s`
        : (r.skipped || []).map((s) => s.reason || JSON.stringify(s)).join("; ") || "no price";
    }, 400);
  }
  form.addEventListener("change", estimate);
  $("clip").addEventListener("input", estimate);

  $("upload").addEventListener("click", async () => {
    const file = $("upload-file").files[0];
    if (!file) return;
    $("upload-status").textContent = "uploading…";
    const query = new URLSearchParams({ root: $("upload-root").value, name: file.name });
    const response = await fetch(`/api/upload?${query}`, { method: "PUT", body: file });
    const r = await response.json();
    $("upload-status").textContent = r.error || `uploaded (${r.size} bytes)`;
    if (!r.error) { $("clip").value = r.path; estimate(); }
  });

  function follow(id, stages) {
    const source = new EventSource(`/api/runs/${id}/events`);
    const done = new Set();
    source.onmessage = (message) => {
      const event = JSON.parse(message.data);
      const line = document.createElement("li");
      line.textContent = message.data.slice(0, 200);
      $("run-log").prepend(line);
      if (event.type === "progress" && event.unit === "frames" && event.total) {
        const share = (done.size + event.done / event.total) / stages.length;
        progress.value = Math.min(share, 1);
        $("run-stage").textContent = `${event.stage} ${event.done}/${event.total}`;
      } else if (event.type === "stage") {
        if (["done", "cached", "failed"].includes(event.status)) done.add(event.stage);
        progress.value = done.size / stages.length;
        $("run-stage").textContent = `${event.stage}: ${event.status}`;
      } else if (event.type === "exit") {
        source.close();
        status.textContent = event.state;
        if (event.state === "done") progress.value = 1;
        $("run-error").textContent = event.error || "";
        $("cancel").disabled = true; $("start").disabled = false;
      }
    };
  }

  form.addEventListener("submit", async (submit) => {
    submit.preventDefault();
    $("run-error").textContent = ""; $("run-log").textContent = "";
    progress.value = 0;
    const maxCost = $("max-cost").value;
    const [code, r] = await postJSON("/api/runs", {
      clip: $("clip").value.trim(),
      stages: chosenStages(),
      backend: $("backend").value,
      gpu: $("gpu").value || null,
      max_cost: maxCost === "" ? null : Number(maxCost),
    });
    if (code !== 200) { status.textContent = "refused"; $("run-error").textContent = r.error; return; }
    runId = r.id;
    status.textContent = "running";
    $("run-shot").textContent = `shot: ${r.shot}`;
    $("cancel").disabled = false; $("start").disabled = true;
    follow(r.id, r.stages);
  });

  $("cancel").addEventListener("click", async () => {
    if (!runId) return;
    status.textContent = "cancelling";
    await postJSON(`/api/runs/${runId}/cancel`);
  });
  estimate();
}

// ---- remote resources ---------------------------------------------------------------
function resourcesPage() {
  for (const button of document.querySelectorAll("button.cleanup")) {
    button.addEventListener("click", async () => {
      const row = button.closest(".cleanup-row"), result = row.querySelector(".cleanup-result");
      result.textContent = "…";
      const [, r] = await postJSON(`/api/resources/${button.dataset.backend}/cleanup`, {
        older_than: row.querySelector(".older-than").value,
        dry_run: row.querySelector(".dry-run").checked,
      });
      result.textContent = r.error || r.reports.map((report) =>
        `${report.dry_run ? "would remove" : "removed"} ${report.removed} objects ` +
        `(${(report.bytes / 1e6).toFixed(1)} MB) from ${report.where}; ${report.kept} kept`,
      ).join("; ");
    });
  }
}

document.addEventListener("DOMContentLoaded", () => {
  if ($("shot-data")) flipbook();
  if ($("run-form")) runPage();
  resourcesPage();
});
