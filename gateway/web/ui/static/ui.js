// Small progressive enhancements; every page works without this file.
"use strict";
document.addEventListener("DOMContentLoaded", () => {
  // The override form: the level is required only for an override (a confirm keeps the AI's level).
  const form = document.querySelector("form.review");
  if (form) {
    const level = form.querySelector("select[name=level]");
    const sync = () => {
      const override = form.querySelector("input[name=decision][value=override]")?.checked;
      level.required = Boolean(override);
      level.closest(".field").hidden = !override;
    };
    form.querySelectorAll("input[name=decision]").forEach((radio) => radio.addEventListener("change", sync));
    sync();
  }
  // A form the server sent back with what to fix: never silent. The error sits at the top of its form;
  // it is brought into view and focused, so a screen reader reads it and the hand is where the fix is.
  const error = document.querySelector(".error[role=alert][tabindex]");
  if (error && !error.hidden) {
    error.scrollIntoView({ block: "center" });
    error.focus({ preventScroll: true });
  }
});
