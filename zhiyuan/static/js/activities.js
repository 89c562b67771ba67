// Check in by position: ask the browser where the phone is, then send the form.
// Browsers give WGS-84, which is what the server expects (datum "wgs84").
document.addEventListener("DOMContentLoaded", () => {
  const form = document.querySelector("form[data-locate]");
  if (!form || !("geolocation" in navigator)) {
    return;
  }
  const status = form.querySelector("[data-locate-status]");
  let located = false;
  form.addEventListener("submit", (event) => {
    if (located) {
      return;
    }
    event.preventDefault();
    if (status) {
      status.textContent = form.dataset.locating || "…";
    }
    navigator.geolocation.getCurrentPosition(
      (position) => {
        form.elements.lat.value = position.coords.latitude.toFixed(6);
        form.elements.lng.value = position.coords.longitude.toFixed(6);
        form.elements.accuracy.value = Math.round(position.coords.accuracy);
        form.elements.datum.value = "wgs84";
        located = true;
        form.requestSubmit();
      },
      () => {
        located = true;
        form.requestSubmit();
      },
      { enableHighAccuracy: true, timeout: 15000, maximumAge: 0 },
    );
  });
});
