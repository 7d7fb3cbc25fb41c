// Label scanning with the camera where the browser has BarcodeDetector; otherwise the
// page's paste form is all there is.
"use strict";

document.addEventListener("DOMContentLoaded", async () => {
  const section = document.getElementById("camera");
  if (!section || !("BarcodeDetector" in window) || !navigator.mediaDevices) return;
  let formats = [];
  try {
    formats = await BarcodeDetector.getSupportedFormats();
  } catch (error) {
    return;
  }
  if (!formats.includes("qr_code")) return;
  section.hidden = false;
  const video = document.getElementById("camera-video");
  const start = document.getElementById("camera-start");
  const text = document.getElementById("text");
  const form = document.getElementById("verify-form");
  const detector = new BarcodeDetector({ formats: ["qr_code"] });
  start.addEventListener("click", async () => {
    start.disabled = true;
    const stream = await navigator.mediaDevices.getUserMedia({ video: { facingMode: "environment" } });
    video.srcObject = stream;
    video.hidden = false;
    await video.play();
    const look = async () => {
      const found = await detector.detect(video).catch(() => []);
      if (found.length > 0) {
        stream.getTracks().forEach((track) => track.stop());
        text.value = found[0].rawValue;
        form.submit();
        return;
      }
      requestAnimationFrame(look);
    };
    look();
  });
});
