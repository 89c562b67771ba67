// "Use my location": fill the home point from the phone's position (WGS-84, as browsers give).
document.addEventListener("DOMContentLoaded", () => {
  for (const button of document.querySelectorAll("[data-locate]")) {
    const [latId, lngId] = button.dataset.locate.split(" ");
    const status = document.querySelector("[data-locate-status]");
    button.addEventListener("click", () => {
      if (!navigator.geolocation) {
        if (status) status.textContent = button.dataset.unsupported || "";
        return;
      }
      navigator.geolocation.getCurrentPosition(
        (position) => {
          document.getElementById(latId).value = position.coords.latitude.toFixed(3);
          document.getElementById(lngId).value = position.coords.longitude.toFixed(3);
        },
        (error) => { if (status) status.textContent = error.message; },
        { enableHighAccuracy: false, timeout: 10000 },
      );
    });
  }
});
