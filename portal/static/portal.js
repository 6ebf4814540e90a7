// Upload page: drag and drop or pick files; each is sent as the request body (XHR, so the upload's
// progress shows), then its ingest is followed until the receipt comes back and is shown in place.
(function () {
  "use strict";
  const drop = document.getElementById("drop");
  if (!drop) return;
  const city = drop.dataset.city, csrf = drop.dataset.csrf, maxBytes = Number(drop.dataset.maxBytes);
  const list = document.getElementById("uploads");
  const input = document.getElementById("file-input");

  function el(tag, cls, text) {
    const e = document.createElement(tag);
    if (cls) e.className = cls;
    if (text !== undefined) e.textContent = text;
    return e;
  }

  function mb(n) { return n < 1048576 ? Math.max(1, Math.round(n / 1024)) + " KB" : (n / 1048576).toFixed(1) + " MB"; }

  function show(box, job) {
    box.phase.textContent = job.receipt_status ? "审核完成" : "";
    box.bar.remove();
    const holder = el("div");
    holder.innerHTML = job.receipt_html;  // rendered and escaped by the server
    box.root.appendChild(holder);
  }

  function fail(box, message) {
    box.phase.textContent = "未接收";
    box.bar.remove();
    box.root.appendChild(el("p", "alert error", message));
  }

  function poll(box, job) {
    if (job.status === "done") return show(box, job);
    if (job.status === "failed") return fail(box, job.error);
    const done = job.bytes_processed || 0;
    box.phase.textContent = "校验入库中" + (job.rows_processed ? "（已处理 " + job.rows_processed + " 行）" : "……");
    box.bar.removeAttribute("value");
    if (done && job.size) { box.bar.max = job.size; box.bar.value = Math.min(done, job.size * 0.99); }
    setTimeout(function () {
      fetch("/city/" + city + "/jobs/" + job.job, {headers: {"Accept": "application/json"}, credentials: "same-origin"})
        .then(function (r) { return r.json().then(function (j) { return [r, j]; }); })
        .then(function (rj) { if (!rj[0].ok) return fail(box, rj[1].error || "查询进度失败"); poll(box, rj[1]); })
        .catch(function () { fail(box, "网络中断，请刷新页面查看报送记录"); });
    }, 1000);
  }

  function send(file) {
    const root = el("div", "upload");
    const head = el("div");
    head.appendChild(el("span", "name", file.name));
    head.appendChild(el("span", "phase", mb(file.size)));
    const phase = el("span", "phase", "上传中");
    head.appendChild(phase);
    const bar = el("progress");
    bar.max = file.size || 1; bar.value = 0;
    root.appendChild(head); root.appendChild(bar);
    list.prepend(root);
    const box = {root: root, bar: bar, phase: phase};
    if (file.size > maxBytes) return fail(box, "文件超过 " + mb(maxBytes) + " 上限，未上传");
    const xhr = new XMLHttpRequest();
    xhr.open("POST", "/city/" + city + "/upload?name=" + encodeURIComponent(file.name));
    xhr.setRequestHeader("X-CSRF-Token", csrf);
    xhr.setRequestHeader("Content-Type", "application/octet-stream");
    xhr.setRequestHeader("Accept", "application/json");
    xhr.upload.onprogress = function (e) {
      if (e.lengthComputable) { bar.max = e.total; bar.value = e.loaded; phase.textContent = "上传中 " + Math.round(100 * e.loaded / e.total) + "%"; }
    };
    xhr.onload = function () {
      let body = {};
      try { body = JSON.parse(xhr.responseText); } catch (err) { body = {error: "服务器返回异常（" + xhr.status + "）"}; }
      if (xhr.status >= 400) return fail(box, body.error || ("上传失败（" + xhr.status + "）"));
      poll(box, body);
    };
    xhr.onerror = function () { fail(box, "网络中断，上传未完成"); };
    xhr.send(file);
  }

  function sendAll(files) { Array.prototype.forEach.call(files, send); }
  input.addEventListener("change", function () { sendAll(input.files); input.value = ""; });
  ["dragenter", "dragover"].forEach(function (t) {
    drop.addEventListener(t, function (e) { e.preventDefault(); drop.classList.add("over"); });
  });
  ["dragleave", "drop"].forEach(function (t) {
    drop.addEventListener(t, function (e) { e.preventDefault(); drop.classList.remove("over"); });
  });
  drop.addEventListener("drop", function (e) { sendAll(e.dataTransfer.files); });
})();
