// The needs pages' small script (no inline scripts: the Content-Security-Policy forbids them).
document.addEventListener("DOMContentLoaded", () => {
  // "Use my location": fill the hidden map-point fields from the phone's position.
  document.querySelectorAll("[data-geo-fill]").forEach((button) => {
    const [latId, lngId] = button.dataset.geoFill.split(",");
    const status = document.getElementById(button.dataset.geoStatus || "");
    button.addEventListener("click", () => {
      if (!navigator.geolocation) return;
      navigator.geolocation.getCurrentPosition(
        (pos) => {
          document.getElementById(latId).value = pos.coords.latitude.toFixed(6);
          document.getElementById(lngId).value = pos.coords.longitude.toFixed(6);
          if (status) status.textContent = "✓";
        },
        () => { if (status) status.textContent = "✗"; },
        { enableHighAccuracy: true, timeout: 10000 }
      );
    });
  });
  // Start and finish on site: the location is asked for when the page opens, and sent as
  // evidence with the form if the person allows it; the form works without it.
  document.querySelectorAll("form[data-geo-form]").forEach((form) => {
    if (!navigator.geolocation) return;
    navigator.geolocation.getCurrentPosition(
      (pos) => {
        const lat = form.querySelector('[data-geo="lat"]');
        const lng = form.querySelector('[data-geo="lng"]');
        if (lat && lng) {
          lat.value = pos.coords.latitude.toFixed(6);
          lng.value = pos.coords.longitude.toFixed(6);
        }
      },
      () => {},
      { enableHighAccuracy: true, timeout: 10000 }
    );
  });
  // Tick all needs in the queue for batch dispatch.
  document.querySelectorAll("[data-check-all]").forEach((box) => {
    box.addEventListener("change", () => {
      document.querySelectorAll(`input[name="${box.dataset.checkAll}"]`).forEach((c) => { c.checked = box.checked; });
    });
  });
});
