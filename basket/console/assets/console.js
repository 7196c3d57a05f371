// The console's one script. Everything works without it; with it, times
// show in the viewer's time zone, the copy buttons copy, the filter form
// tells the server the viewer's time zone, and the feed page is live.
"use strict";
(function () {
  document.documentElement.classList.add("js");

  var fmt;
  try {
    fmt = new Intl.DateTimeFormat(undefined, { dateStyle: "medium", timeStyle: "short" });
  } catch (e) {
    fmt = null;
  }
  var zone = "";
  try {
    zone = Intl.DateTimeFormat().resolvedOptions().timeZone || "";
  } catch (e) {
    zone = "";
  }

  // localTimes rewrites <time datetime> in the viewer's zone; the title
  // keeps UTC.
  function localTimes(root) {
    if (!fmt) return;
    var ts = root.querySelectorAll("time[datetime]");
    for (var i = 0; i < ts.length; i++) {
      var d = new Date(ts[i].getAttribute("datetime"));
      if (!isNaN(d.getTime())) ts[i].textContent = fmt.format(d);
    }
  }

  function timeEl(iso) {
    var t = document.createElement("time");
    t.setAttribute("datetime", iso);
    t.title = iso.replace("T", " ").replace(/\.\d+Z$/, " UTC").replace(/Z$/, " UTC");
    t.textContent = iso;
    return t;
  }

  function copyButtons() {
    var bs = document.querySelectorAll("button[data-copy]");
    for (var i = 0; i < bs.length; i++) {
      bs[i].addEventListener("click", function (ev) {
        var b = ev.currentTarget;
        var input = document.getElementById(b.getAttribute("data-copy"));
        if (!input) return;
        var done = function () {
          b.textContent = "Copied";
          setTimeout(function () { b.textContent = "Copy"; }, 2000);
        };
        if (navigator.clipboard && navigator.clipboard.writeText) {
          navigator.clipboard.writeText(input.value).then(done, function () {
            input.select();
            document.execCommand("copy");
            done();
          });
        } else {
          input.select();
          document.execCommand("copy");
          done();
        }
      });
    }
  }

  // zones fills the filter form's time zone, which the server reads its
  // dates in, and names it beside them. A form already in another zone
  // keeps it.
  function zones() {
    if (!zone) return;
    var fs = document.querySelectorAll("input.tz");
    for (var i = 0; i < fs.length; i++) {
      if (fs[i].value === "" || fs[i].value === "UTC" && !fs[i].form.querySelector("input[name=from]").value && !fs[i].form.querySelector("input[name=to]").value) {
        fs[i].value = zone;
        var ls = fs[i].form.querySelectorAll(".zone");
        for (var j = 0; j < ls.length; j++) ls[j].textContent = "(" + zone + ")";
      }
    }
  }

  function cell(tr, label, child) {
    var td = document.createElement("td");
    td.setAttribute("data-label", label);
    if (typeof child === "string") {
      if (child === "") {
        var s = document.createElement("span");
        s.className = "none";
        s.textContent = "—";
        td.appendChild(s);
      } else {
        td.textContent = child;
      }
    } else {
      td.appendChild(child);
    }
    tr.appendChild(td);
    return td;
  }

  // feed polls the feed's JSON and puts new abandonments on top.
  function feed() {
    var table = document.getElementById("feed");
    if (!table || !window.fetch) return;
    var body = table.tBodies[0];
    var next = table.getAttribute("data-next");
    var url = table.getAttribute("data-poll");
    var live = document.getElementById("live");
    if (live) live.hidden = false;
    var maxRows = 200;

    function add(it) {
      var tr = document.createElement("tr");
      tr.className = "fresh";
      cell(tr, "Abandoned", timeEl(it.abandonedAt));
      var a = document.createElement("a");
      a.href = it.href;
      if (it.name) {
        var n = document.createElement("span");
        n.className = "name";
        n.textContent = it.name;
        a.appendChild(n);
        a.appendChild(document.createTextNode(" "));
      }
      var e = document.createElement("span");
      e.className = "email";
      e.textContent = it.email;
      a.appendChild(e);
      cell(tr, "Customer", a).className = "customer";
      cell(tr, "Items", it.items);
      cell(tr, "Channel", it.channel);
      cell(tr, "Created", timeEl(it.created));
      localTimes(tr);
      body.insertBefore(tr, body.firstChild);
      while (body.rows.length > maxRows) body.deleteRow(body.rows.length - 1);
      var empty = document.getElementById("empty");
      if (empty) empty.hidden = true;
    }

    function poll() {
      fetch(url + "?after=" + encodeURIComponent(next), { credentials: "same-origin", headers: { "Accept": "application/json" } })
        .then(function (r) {
          if (r.status === 401) throw new Error("signed out");
          if (!r.ok) throw new Error("HTTP " + r.status);
          return r.json();
        })
        .then(function (page) {
          for (var i = 0; i < page.items.length; i++) add(page.items[i]);
          next = page.next;
          setTimeout(poll, page.items.length >= 100 ? 200 : 3000);
        })
        .catch(function (err) {
          if (live) live.textContent = err.message === "signed out" ? "Signed out: reload the page to sign in again." : "The feed does not answer; trying again.";
          if (err.message !== "signed out") setTimeout(poll, 10000);
        });
    }
    setTimeout(poll, 1000);
  }

  function start() {
    localTimes(document);
    copyButtons();
    zones();
    feed();
  }
  if (document.readyState === "loading") {
    document.addEventListener("DOMContentLoaded", start);
  } else {
    start();
  }
})();
