// 收件: drag and drop (or pick) many files; each is sent as its own request, one after another,
// its bytes as the body and its name URL-encoded in a header, with the page's CSRF token.
(function () {
  "use strict";
  const csrf = document.querySelector('meta[name="csrf-token"]').content;
  const drop = document.getElementById("drop");
  if (!drop) return;
  const picker = document.getElementById("files");
  const table = document.getElementById("uploads");
  const words = { saved: "已保存", same: "已有相同文件，未重复保存", refused: "未保存" };

  function row(name) {
    const tr = document.createElement("tr");
    const a = document.createElement("td");
    const b = document.createElement("td");
    a.textContent = name; // text, never HTML
    b.textContent = "正在上传……";
    tr.append(a, b);
    table.tBodies[0].append(tr);
    table.hidden = false;
    return b;
  }

  async function send(file) {
    const cell = row(file.name);
    try {
      const response = await fetch("/inbox/upload", {
        method: "POST",
        headers: {
          "X-CSRF-Token": csrf,
          "X-File-Name": encodeURIComponent(file.name),
          "Content-Type": "application/octet-stream",
        },
        body: file,
        credentials: "same-origin",
      });
      const result = await response.json();
      cell.textContent = words[result.outcome] + (result.path && result.outcome === "saved" ? "：" + result.path : "")
        + (result.message ? "（" + result.message + "）" : "");
      cell.className = "upload-" + result.outcome;
    } catch (err) {
      cell.textContent = "上传失败：" + err;
      cell.className = "upload-refused";
    }
  }

  async function sendAll(files) {
    for (const file of files) await send(file);
  }

  drop.addEventListener("dragover", (e) => { e.preventDefault(); drop.classList.add("over"); });
  drop.addEventListener("dragleave", () => drop.classList.remove("over"));
  drop.addEventListener("drop", (e) => {
    e.preventDefault();
    drop.classList.remove("over");
    sendAll(Array.from(e.dataTransfer.files));
  });
  drop.addEventListener("keydown", (e) => {
    if (e.key === "Enter" || e.key === " ") { e.preventDefault(); picker.click(); }
  });
  picker.addEventListener("change", () => { sendAll(Array.from(picker.files)); picker.value = ""; });
})();
