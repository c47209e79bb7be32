// Pipeline board: drag a card onto a column to move it (the per-card
// "Move" form does the same for keyboards), and keep focus on the moved card
// after htmx swaps the board. The server decides everything; this only asks.
(function () {
  var dragged = null;
  document.addEventListener("dragstart", function (event) {
    var card = event.target.closest && event.target.closest(".deal-card");
    if (!card) return;
    dragged = card;
    event.dataTransfer.effectAllowed = "move";
    event.dataTransfer.setData("text/plain", card.dataset.deal);
  });
  document.addEventListener("dragover", function (event) {
    if (dragged && event.target.closest(".board-column")) event.preventDefault();
  });
  document.addEventListener("drop", function (event) {
    var column = event.target.closest(".board-column");
    if (!dragged || !column) return;
    event.preventDefault();
    var form = dragged.querySelector("form.move");
    form.querySelector("select[name=stage]").value = column.dataset.stage;
    dragged = null;
    htmx.trigger(form, "submit");
  });
  // afterSettle, not afterSwap: it runs once every swap (the board and the
  // out-of-band live region) has settled, so nothing takes focus back after.
  document.addEventListener("htmx:afterSettle", function () {
    var moved = document.querySelector(".deal-card[data-moved] select");
    if (moved) moved.focus();
  });
})();
