/* Ops Market — behaviour of the UI components (docs/components/<name>.md).
 *
 * Everything is wired by event delegation on the document, so content that htmx
 * swaps in later works without re-initialising. No inline scripts anywhere: the
 * pages can run under a strict Content-Security-Policy.
 */
(function () {
  "use strict";

  function csrfToken() {
    var meta = document.querySelector('meta[name="csrf-token"]');
    return meta ? meta.getAttribute("content") : "";
  }
  window.OpsMarket = { csrfToken: csrfToken };

  /* --- flash messages ------------------------------------------------------ */

  document.addEventListener("click", function (event) {
    var button = event.target.closest("[data-dismiss]");
    if (!button) return;
    var flash = button.closest(".flash");
    if (flash) flash.remove();
  });

  /* --- user menu: close the <details> when clicking elsewhere or on Escape -- */

  function closeMenus(except) {
    document.querySelectorAll("details.user-menu[open]").forEach(function (menu) {
      if (menu !== except) menu.removeAttribute("open");
    });
  }
  document.addEventListener("click", function (event) {
    closeMenus(event.target.closest("details.user-menu"));
  });
  document.addEventListener("keydown", function (event) {
    if (event.key === "Escape") closeMenus(null);
  });

  /* --- confirm-dialog ------------------------------------------------------ */

  document.addEventListener("click", function (event) {
    var opener = event.target.closest("[data-confirm-open]");
    if (opener) {
      var dialog = document.getElementById(opener.getAttribute("data-confirm-open"));
      if (dialog && typeof dialog.showModal === "function") {
        var expect = dialog.querySelector("[data-confirm-expect]");
        if (expect) {
          expect.value = "";
          syncExpect(expect);
        }
        dialog.showModal();
        var focus = expect || dialog.querySelector("[data-confirm-cancel]");
        if (focus) focus.focus();
      }
      return;
    }
    var cancel = event.target.closest("[data-confirm-cancel]");
    if (cancel) {
      var open = cancel.closest("dialog");
      if (open) {
        event.preventDefault();
        open.close("cancel");
      }
    }
  });

  function syncExpect(input) {
    var form = input.closest("form");
    var submit = form && form.querySelector("[data-confirm-submit]");
    if (submit) submit.disabled = input.value !== input.getAttribute("data-confirm-expect");
  }
  document.addEventListener("input", function (event) {
    if (event.target.matches && event.target.matches("[data-confirm-expect]")) {
      syncExpect(event.target);
    }
  });
  document.addEventListener("submit", function (event) {
    var form = event.target;
    var expect = form.querySelector && form.querySelector("[data-confirm-expect]");
    var submitter = event.submitter;
    var cancelling = submitter && submitter.hasAttribute("data-confirm-cancel");
    if (expect && !cancelling && expect.value !== expect.getAttribute("data-confirm-expect")) {
      event.preventDefault();
      return;
    }
    // One click, one request: a slow server must not get the form twice.
    if (!cancelling && form.closest(".dialog")) {
      var button = form.querySelector("[data-confirm-submit]");
      if (button) window.setTimeout(function () { button.disabled = true; }, 0);
    }
  });

  /* --- copy buttons (code-block, diff-block) --------------------------------- */

  function copyText(text) {
    if (navigator.clipboard && window.isSecureContext) {
      return navigator.clipboard.writeText(text);
    }
    return new Promise(function (resolve, reject) {
      var area = document.createElement("textarea");
      area.value = text;
      area.setAttribute("readonly", "");
      area.style.position = "fixed";
      area.style.opacity = "0";
      document.body.appendChild(area);
      area.select();
      var ok = false;
      try {
        ok = document.execCommand("copy");
      } catch (error) {
        ok = false;
      }
      area.remove();
      if (ok) resolve(); else reject(new Error("copy refused"));
    });
  }

  document.addEventListener("click", function (event) {
    var button = event.target.closest("[data-copy-target]");
    if (!button) return;
    var target = document.getElementById(button.getAttribute("data-copy-target"));
    if (!target) return;
    var label = button.getAttribute("data-label") || button.textContent;
    button.setAttribute("data-label", label);
    copyText(target.innerText.replace(/\n$/, "")).then(
      function () { button.textContent = "Copied"; },
      function () { button.textContent = "Press Ctrl+C"; }
    ).then(function () {
      window.setTimeout(function () { button.textContent = label; }, 1600);
    });
  });

  /* --- tabs -------------------------------------------------------------------- */

  function selectTab(tab, focus) {
    var list = tab.closest('[role="tablist"]');
    if (!list) return;
    list.querySelectorAll('[role="tab"]').forEach(function (other) {
      var selected = other === tab;
      other.setAttribute("aria-selected", selected ? "true" : "false");
      other.tabIndex = selected ? 0 : -1;
      var panel = document.getElementById(other.getAttribute("aria-controls"));
      if (panel) panel.hidden = !selected;
    });
    if (focus) tab.focus();
  }

  document.addEventListener("click", function (event) {
    var tab = event.target.closest('[data-tabs] [role="tab"]');
    if (!tab) return;
    selectTab(tab, false);
    var panelId = tab.getAttribute("aria-controls");
    if (panelId && window.history.replaceState) {
      window.history.replaceState(null, "", "#" + panelId);
    }
  });

  document.addEventListener("keydown", function (event) {
    var tab = event.target.closest && event.target.closest('[data-tabs] [role="tab"]');
    if (!tab) return;
    var tabs = Array.prototype.slice.call(
      tab.closest('[role="tablist"]').querySelectorAll('[role="tab"]')
    );
    var index = tabs.indexOf(tab);
    var next = null;
    if (event.key === "ArrowRight") next = tabs[(index + 1) % tabs.length];
    else if (event.key === "ArrowLeft") next = tabs[(index - 1 + tabs.length) % tabs.length];
    else if (event.key === "Home") next = tabs[0];
    else if (event.key === "End") next = tabs[tabs.length - 1];
    if (next) {
      event.preventDefault();
      selectTab(next, true);
    }
  });

  function selectTabFromHash() {
    if (!window.location.hash) return;
    var id = decodeURIComponent(window.location.hash.slice(1));
    var tab = document.getElementById(id + "-tab");
    if (tab && tab.closest("[data-tabs]")) selectTab(tab, false);
  }

  /* --- data-table: client-side sorting of complete (unpaginated) tables ------ */

  function compareValues(a, b) {
    if (a === "" && b !== "") return 1;
    if (b === "" && a !== "") return -1;
    var x = Number(a);
    var y = Number(b);
    if (a !== "" && b !== "" && !isNaN(x) && !isNaN(y)) return x - y;
    return a.localeCompare(b, undefined, { numeric: true, sensitivity: "base" });
  }

  document.addEventListener("click", function (event) {
    var link = event.target.closest('table[data-sort-mode="client"] [data-sort-key]');
    if (!link || event.metaKey || event.ctrlKey || event.shiftKey) return;
    event.preventDefault();
    var th = link.closest("th");
    var table = th.closest("table");
    var column = Array.prototype.indexOf.call(th.parentNode.children, th);
    var descending = th.getAttribute("aria-sort") === "ascending";
    table.querySelectorAll("thead th").forEach(function (other) {
      other.removeAttribute("aria-sort");
    });
    th.setAttribute("aria-sort", descending ? "descending" : "ascending");
    var body = table.tBodies[0];
    var rows = Array.prototype.slice.call(body.rows).filter(function (row) {
      return !row.classList.contains("data-table__empty-row");
    });
    rows.sort(function (r1, r2) {
      var a = r1.cells[column].getAttribute("data-sort-value") || "";
      var b = r2.cells[column].getAttribute("data-sort-value") || "";
      var order = compareValues(a, b);
      // Blanks stay last in both directions.
      if (a === "" || b === "") return order;
      return descending ? -order : order;
    });
    rows.forEach(function (row) { body.appendChild(row); });
    if (window.history.replaceState) {
      var url = new URL(link.href, window.location.href);
      url.searchParams.set("sort", (descending ? "-" : "") + link.getAttribute("data-sort-key"));
      window.history.replaceState(null, "", url.pathname + url.search + window.location.hash);
    }
  });

  /* --- search-box: suggestions with keyboard navigation -------------------------- */

  var SUGGEST_DELAY_MS = 150;
  var deadSuggestUrls = {};

  function suggestionItems(data) {
    var items = Array.isArray(data) ? data : (data && (data.results || data.suggestions)) || [];
    return items.slice(0, 10).map(function (item) {
      if (typeof item === "string") return { title: item, url: "", type: "" };
      return {
        title: String(item.title || item.text || item.name || ""),
        url: item.url ? String(item.url) : "",
        type: item.type ? String(item.type) : "",
      };
    }).filter(function (item) { return item.title; });
  }

  function safeUrl(raw) {
    try {
      var url = new URL(raw, window.location.href);
      if (url.origin === window.location.origin) return url.href;
    } catch (error) {
      return "";
    }
    return "";
  }

  function SearchBox(form) {
    this.form = form;
    this.input = form.querySelector(".search-box__input");
    this.list = form.querySelector(".search-box__suggestions");
    this.url = form.getAttribute("data-suggest-url");
    this.minChars = parseInt(form.getAttribute("data-min-chars") || "2", 10);
    this.items = [];
    this.active = -1;
    this.timer = null;
    this.sequence = 0;
  }

  SearchBox.prototype.close = function () {
    this.items = [];
    this.active = -1;
    this.list.hidden = true;
    this.list.textContent = "";
    this.input.setAttribute("aria-expanded", "false");
    this.input.removeAttribute("aria-activedescendant");
  };

  SearchBox.prototype.render = function () {
    var self = this;
    this.list.textContent = "";
    if (!this.items.length) {
      this.close();
      return;
    }
    this.items.forEach(function (item, index) {
      var option = document.createElement("li");
      option.className = "search-box__option";
      option.id = self.list.id + "-" + index;
      option.setAttribute("role", "option");
      option.setAttribute("aria-selected", index === self.active ? "true" : "false");
      var title = document.createElement("span");
      title.className = "search-box__option-title";
      title.textContent = item.title;
      option.appendChild(title);
      if (item.type) {
        var type = document.createElement("span");
        type.className = "search-box__option-type";
        type.textContent = item.type;
        option.appendChild(type);
      }
      option.addEventListener("mousedown", function (event) {
        event.preventDefault(); // keep focus in the input
        self.choose(index);
      });
      self.list.appendChild(option);
    });
    this.list.hidden = false;
    this.input.setAttribute("aria-expanded", "true");
    if (this.active >= 0) {
      this.input.setAttribute("aria-activedescendant", this.list.id + "-" + this.active);
    } else {
      this.input.removeAttribute("aria-activedescendant");
    }
  };

  SearchBox.prototype.move = function (step) {
    if (!this.items.length) return;
    var count = this.items.length;
    this.active = this.active < 0 && step < 0 ? count - 1 : (this.active + step + count) % count;
    this.render();
    var option = document.getElementById(this.list.id + "-" + this.active);
    if (option && option.scrollIntoView) option.scrollIntoView({ block: "nearest" });
  };

  SearchBox.prototype.choose = function (index) {
    var item = this.items[index];
    if (!item) return;
    var target = item.url ? safeUrl(item.url) : "";
    this.close();
    if (target) {
      window.location.assign(target);
    } else {
      this.input.value = item.title;
      this.form.requestSubmit ? this.form.requestSubmit() : this.form.submit();
    }
  };

  SearchBox.prototype.fetch = function () {
    var self = this;
    var query = this.input.value.trim();
    if (!this.url || deadSuggestUrls[this.url] || query.length < this.minChars) {
      this.close();
      return;
    }
    var sequence = ++this.sequence;
    var url = new URL(this.url, window.location.href);
    url.searchParams.set("q", query);
    window.fetch(url.href, {
      headers: { Accept: "application/json" },
      credentials: "same-origin",
    }).then(function (response) {
      if (!response.ok) {
        // No suggestion endpoint (yet), or it is unhappy: stop asking, keep quiet.
        if (response.status === 404 || response.status === 405 || response.status === 501) {
          deadSuggestUrls[self.url] = true;
        }
        return null;
      }
      return response.json();
    }).then(function (data) {
      if (sequence !== self.sequence || data === null) {
        if (data === null) self.close();
        return;
      }
      self.items = suggestionItems(data);
      self.active = -1;
      self.render();
    }).catch(function () {
      self.close();
    });
  };

  function searchBoxFor(element) {
    var form = element.closest && element.closest("form[data-search-box][data-suggest-url]");
    if (!form) return null;
    if (!form._searchBox) form._searchBox = new SearchBox(form);
    return form._searchBox;
  }

  document.addEventListener("input", function (event) {
    if (!event.target.classList || !event.target.classList.contains("search-box__input")) return;
    var box = searchBoxFor(event.target);
    if (!box) return;
    window.clearTimeout(box.timer);
    box.timer = window.setTimeout(function () { box.fetch(); }, SUGGEST_DELAY_MS);
  });

  document.addEventListener("keydown", function (event) {
    if (!event.target.classList || !event.target.classList.contains("search-box__input")) return;
    var box = searchBoxFor(event.target);
    if (!box) return;
    var open = !box.list.hidden;
    if (event.key === "ArrowDown") {
      event.preventDefault();
      if (open) box.move(1); else box.fetch();
    } else if (event.key === "ArrowUp") {
      if (open) {
        event.preventDefault();
        box.move(-1);
      }
    } else if (event.key === "Enter") {
      if (open && box.active >= 0) {
        event.preventDefault();
        box.choose(box.active);
      }
    } else if (event.key === "Escape") {
      if (open) {
        event.preventDefault();
        event.stopPropagation();
        box.close();
      }
    }
  });

  document.addEventListener("focusout", function (event) {
    if (!event.target.classList || !event.target.classList.contains("search-box__input")) return;
    var box = searchBoxFor(event.target);
    if (box) window.setTimeout(function () { box.close(); }, 100);
  });

  /* --- "/" focuses the search box that declares it (the header's) ------------------ */

  function isTyping(target) {
    if (!target || !target.closest) return false;
    return Boolean(target.closest("input, textarea, select, [contenteditable]:not([contenteditable=false])"));
  }

  document.addEventListener("keydown", function (event) {
    if (event.key !== "/" || event.ctrlKey || event.metaKey || event.altKey) return;
    // A "/" typed into a field is text, never a shortcut.
    if (isTyping(event.target) || event.defaultPrevented) return;
    var input = document.querySelector("input[data-search-shortcut]");
    if (!input) return;
    event.preventDefault();
    input.focus();
    input.select();
  });

  /* --- tables on a phone: each cell names its column ------------------------------- */

  // The data_table component writes data-label itself; tables written by hand get
  // theirs from their header row, for the stacked layout of narrow screens.
  function labelTableCells() {
    document.querySelectorAll("table.data-table__table").forEach(function (table) {
      var headers = Array.prototype.map.call(
        table.querySelectorAll("thead tr:first-child th"),
        function (th) { return th.textContent.replace(/\s+/g, " ").trim(); }
      );
      table.querySelectorAll("tbody tr").forEach(function (row) {
        var column = 0;
        Array.prototype.forEach.call(row.children, function (cell) {
          if (!cell.hasAttribute("data-label") && headers[column] !== undefined && cell.colSpan === 1) {
            cell.setAttribute("data-label", headers[column]);
          }
          column += cell.colSpan || 1;
        });
      });
    });
  }

  /* --- new namespace: a cluster is asked for only with the Kubernetes target -------- */

  // A hidden block's inputs are disabled too, so a cluster chosen before switching
  // back to GitOps is not sent (the service would refuse the pair).
  function syncTargetBlocks(form) {
    var checked = form.querySelector('input[name="target"]:checked');
    form.querySelectorAll("[data-show-when-target]").forEach(function (block) {
      var shown = !!checked && checked.value === block.getAttribute("data-show-when-target");
      block.hidden = !shown;
      block.querySelectorAll("input, select, textarea").forEach(function (input) {
        input.disabled = !shown;
      });
    });
  }
  document.addEventListener("change", function (event) {
    if (event.target.name === "target" && event.target.form) syncTargetBlocks(event.target.form);
  });

  /* --- start-up ---------------------------------------------------------------- */

  function ready() {
    selectTabFromHash();
    labelTableCells();
    document.querySelectorAll("form").forEach(function (form) {
      if (form.querySelector("[data-show-when-target]")) syncTargetBlocks(form);
    });
  }
  if (document.readyState === "loading") {
    document.addEventListener("DOMContentLoaded", ready);
  } else {
    ready();
  }
  window.addEventListener("hashchange", selectTabFromHash);
  // Content htmx swaps in may hold tables too.
  document.addEventListener("htmx:afterSettle", labelTableCells);
  // Back-forward cache: a page restored after a confirmed submit gets usable buttons back.
  window.addEventListener("pageshow", function (event) {
    if (!event.persisted) return;
    document.querySelectorAll("dialog [data-confirm-submit]").forEach(function (button) {
      var expect = button.form && button.form.querySelector("[data-confirm-expect]");
      button.disabled = Boolean(expect) && expect.value !== expect.getAttribute("data-confirm-expect");
    });
  });
})();
