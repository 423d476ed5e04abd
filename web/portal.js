// manyi portal: optional enhancements (every form works without this file):
// drag and drop onto the upload area, and upload progress for large files.
(function () {
  "use strict";
  document.querySelectorAll("form[data-upload]").forEach(function (form) {
    var drop = form.querySelector("div.drop");
    var input = form.querySelector("input[type=file]");
    var bar = form.querySelector("progress");
    var text = form.querySelector(".progress-text");
    if (drop && input) {
      ["dragenter", "dragover"].forEach(function (ev) {
        drop.addEventListener(ev, function (e) { e.preventDefault(); drop.classList.add("over"); });
      });
      ["dragleave", "drop"].forEach(function (ev) {
        drop.addEventListener(ev, function (e) { e.preventDefault(); drop.classList.remove("over"); });
      });
      drop.addEventListener("drop", function (e) {
        if (e.dataTransfer && e.dataTransfer.files.length) { input.files = e.dataTransfer.files; }
      });
    }
    if (!window.XMLHttpRequest || !window.FormData) { return; }
    form.addEventListener("submit", function (e) {
      if (!input || !input.files.length) { return; }
      e.preventDefault();
      var xhr = new XMLHttpRequest();
      xhr.open("POST", form.action);
      bar.hidden = false; text.hidden = false;
      xhr.upload.addEventListener("progress", function (p) {
        if (p.lengthComputable) {
          bar.value = Math.round(100 * p.loaded / p.total);
          text.textContent = "已上传 " + bar.value + "%(" + (p.loaded / 1048576).toFixed(1) + " / " + (p.total / 1048576).toFixed(1) + " MB)";
        }
      });
      xhr.upload.addEventListener("load", function () { text.textContent = "上传完成,正在校验入库……"; });
      xhr.addEventListener("load", function () {
        // Redirected to the receipt: follow it; a refusal: show its page.
        if (xhr.responseURL && xhr.responseURL !== form.action && xhr.status < 400) {
          window.location.assign(xhr.responseURL);
        } else {
          document.open(); document.write(xhr.responseText); document.close();
        }
      });
      xhr.addEventListener("error", function () { text.textContent = "上传失败:网络中断,请重试"; });
      var btn = form.querySelector("button[type=submit]");
      if (btn) { btn.disabled = true; }
      xhr.send(new FormData(form));
    });
  });
})();
