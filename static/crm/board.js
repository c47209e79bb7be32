// Pipeline board: drag a card onto a column to move it (each card's "Move"
// menu does the same for keyboards), keep focus on the moved card after htmx
// swaps the board, and on phones show one stage at a time with a switcher.
// The server decides everything; this only asks.
(function () {
  var dragged = null;
  var shown = null; // the stage a phone shows; survives board swaps
  document.addEventListener("dragstart", function (event) {
    var card = event.target.closest && event.target.closest(".deal-card");
    if (!card) return;
    dragged = card;
    document.body.classList.add("dragging-deal");
    event.dataTransfer.effectAllowed = "move";
    event.dataTransfer.setData("text/plain", card.dataset.deal);
  });
  document.addEventListener("dragend", function () {
    document.body.classList.remove("dragging-deal");
  });
  document.addEventListener("dragover", function (event) {
    if (dragged && event.target.closest(".board-column, [data-drop]")) event.preventDefault();
  });
  document.addEventListener("drop", function (event) {
    // Won and Lost need more than a column: open the deal with that dialog.
    var zone = event.target.closest("[data-drop]");
    if (dragged && zone) {
      event.preventDefault();
      window.location.href = dragged.querySelector(".deal-title").getAttribute("href") + "#" + zone.dataset.drop;
      return;
    }
    var column = event.target.closest(".board-column");
    if (!dragged || !column) return;
    event.preventDefault();
    var form = dragged.querySelector("form.move");
    dragged = null;
    if (column.dataset.stage === form.closest(".board-column").dataset.stage) return;
    htmx.ajax("POST", form.getAttribute("hx-post"), {
      source: form, values: { stage: column.dataset.stage }, target: "#board", swap: "outerHTML",
    });
  });

  function showStage(stage) {
    var board = document.getElementById("board");
    if (!board) return;
    shown = stage || shown || board.querySelector(".board-column").dataset.stage;
    board.setAttribute("data-shown", shown);
    board.querySelectorAll(".board-column").forEach(function (col) {
      col.classList.toggle("is-shown", col.dataset.stage === shown);
    });
    document.querySelectorAll("[data-show-stage]").forEach(function (button) {
      button.setAttribute("aria-pressed", button.dataset.showStage === shown ? "true" : "false");
    });
  }
  document.addEventListener("click", function (event) {
    var button = event.target.closest && event.target.closest("[data-show-stage]");
    if (button) showStage(button.dataset.showStage);
  });
  document.addEventListener("DOMContentLoaded", function () {
    var switcher = document.querySelector(".stage-switcher");
    if (switcher) switcher.hidden = false;
    showStage();
  });
  // afterSettle, not afterSwap: it runs once every swap (the board and the
  // out-of-band live region) has settled, so nothing takes focus back after.
  document.addEventListener("htmx:afterSettle", function () {
    var moved = document.querySelector(".deal-card[data-moved]");
    if (moved) {
      // A phone follows the card to its new stage.
      showStage(moved.closest(".board-column").dataset.stage);
      moved.querySelector(".move-menu summary").focus();
    } else {
      showStage();
    }
  });
})();
