"use strict";
// 民声工作台: one page over the workbench's /v1 API. The session is an HttpOnly cookie the
// script never sees; every request goes to this origin only.
(function () {
  const STATUS = {submitted: "已登记", accepted: "已受理", rejected: "不予受理", queued: "待派单",
    assigned: "待签收", signed_for: "办理中", bounced_back: "已退单", replied: "已答复待审核",
    reply_returned: "答复被退回", needs_longer: "需较长时间办理", dispatch_closed: "已办结待回复", notified: "已回复市民",
    reopened: "重办中", closed: "已办结", merged: "已并单", answered_on_spot: "当场答复"};
  const CHANNEL = {hotline_12345: "12345热线", wechat_mini: "微信小程序", wechat_official: "微信公众号",
    mayor_mailbox: "市长信箱", media_hotline: "媒体热线", web: "网站", open311: "Open311"};
  const RATING = {satisfied: "满意", basically_satisfied: "基本满意", dissatisfied: "不满意", unrated: "未评价"};
  const COUNTY = {yingzhou: "颍州区", yingdong: "颍东区", yingquan: "颍泉区", jieshou: "界首市",
    linquan: "临泉县", taihe: "太和县", funan: "阜南县", yingshang: "颍上县", kaifaqu: "经开区"};
  // an assignment's status as dispatch lists it on the desk (not a ticket's: STATUS)
  const ASSIGNMENT = {assigned: "待签收", signed_for: "已签收", in_progress: "办理中",
    replied: "已答复待审核", co_handling: "协办中"};
  const CLOCK = {running: "计时中", paused: "暂停计时", overdue: "已超期", met: "按时办结",
    replied_late: "超期答复", stopped: "停止计时"};
  const FEEDBACK = {awaiting_reply: "待答复", awaiting_rating: "待评价", rated: "已评价",
    unrated: "未评价", closed: "已办结"};
  const ROLE = {channel_adapter: "渠道/话务", dispatcher: "派单员", supervisor: "督办", unit: "承办单位",
    auditor: "审计", observer: "观察员", deputy: "代表委员", citizen: "市民", system: "系统"};
  const OUTCOME = {resolved: "已解决", explained: "解释说明", not_allowed_by_policy: "政策不允许", needs_longer: "需较长时间"};
  const EVENT = {TicketSubmitted: "登记", TicketAccepted: "受理", TicketRejected: "不予受理",
    TicketAssigned: "派单", TicketQueuedForDispatcher: "待人工派单", AssignmentSignedFor: "签收",
    AssignmentBouncedBack: "退单", AssignmentProgressNoted: "办理进展", AssignmentTransferred: "转办",
    CoordinationDecided: "统筹协调", AssignmentReplied: "答复", ReplyReviewed: "审核答复",
    ExtensionRequested: "申请延期", DispatchClosed: "派单办结", DeadlineSet: "设定时限",
    DeadlineWarned: "时限预警", DeadlineMet: "按时办结", DeadlineMissed: "超期",
    DeadlineExtended: "延期获批", ExtensionRefused: "延期未获批", CitizenNotified: "回复市民",
    TicketRated: "评价", TicketMarkedUnrated: "未评价", CallbackRecorded: "回访",
    TicketReopened: "重办", TicketClosed: "办结", SupervisionOrderIssued: "督办",
    SupervisionOrderAnswered: "督办答复", SignForDeadlineSet: "签收时限", ClockStopped: "停止计时",
    TicketAnsweredOnSpot: "当场答复", TicketMergedIntoCase: "并单", TicketUnmergedFromCase: "取消并单",
    AssignmentWithdrawn: "撤回派单", TransferRequested: "申请转办", TransferRejected: "转办未获准",
    RemarkAdded: "备注", PushedToSupervision: "移交督办", CitizenIdentityErased: "删除个人信息",
    NoticeDelivered: "通知已送达", NoticeDeliveryFailed: "通知未送达", ClockPaused: "暂停计时",
    ClockResumed: "恢复计时", DeadlineRecomputed: "重算时限", DeadlineRepliedLate: "超期答复",
    DeadlineReopened: "重办计时", DeadlineCoordinated: "协调时限", SupervisionOrderEscalated: "督办升级",
    SupervisionOrderClosed: "督办关闭", CaseMergeTaken: "并单生效", CaseMergeRefused: "并单未生效"};
  // roles that may sign in but have no view here: say where their work is instead of a blank page
  const ELSEWHERE = {auditor: "审计账号在工作台没有可用页面：工单的全流程记录、校验与证明请使用审计服务的接口（见 docs/audit.md）。",
    observer: "观察员账号在工作台没有可用页面：工单请到公开的民声大厅查看。"};

  const $ = (sel) => document.querySelector(sel);
  function h(tag, attrs, ...children) {
    const el = document.createElement(tag);
    for (const [k, v] of Object.entries(attrs || {})) {
      if (v === null || v === undefined || v === false) continue;
      if (k.startsWith("on")) el.addEventListener(k.slice(2), v); else el.setAttribute(k, v);
    }
    for (const c of children.flat(Infinity)) {
      if (c === null || c === undefined) continue;
      el.append(c instanceof Node ? c : document.createTextNode(String(c)));
    }
    return el;
  }
  const zh = (table, code) => (code ? table[code] || code : "");
  const time = (iso) => iso ? new Date(iso).toLocaleString("zh-CN", {timeZone: "Asia/Shanghai", hour12: false}) : "";
  function flash(text, bad) {
    const el = $("#flash"); el.textContent = text; el.hidden = !text;
    el.className = "message" + (bad ? " bad" : "");
  }
  function reason(body) {
    if (!body) return "";
    const d = body.detail;
    if (typeof d === "string") return d;
    if (Array.isArray(d)) return d.map((e) => (e.field ? e.field + "：" : "") + e.reason).join("；");
    return JSON.stringify(d || body);
  }
  const BACK = "minsheng.back";  // the view to reopen after signing in again
  const EXPIRED = "登录已过期（或已在别处退出）。已填写的内容仍在本页：请在新标签页打开 /login 重新登录，再回到本页提交。";
  async function api(path, options) {
    const opts = Object.assign({credentials: "same-origin", headers: {}}, options || {});
    if (opts.json !== undefined) {
      opts.body = JSON.stringify(opts.json); opts.headers["content-type"] = "application/json";
      delete opts.json;
    }
    const res = await fetch(path, opts);
    if (res.status === 401) {
      // the session ran out (or was ended elsewhere) while the page was open: what was typed
      // into a form stays on the page, to be sent again once signed in from another tab;
      // a view that was being opened is opened again after signing in
      if (me && opts.method && opts.method !== "GET") throw new Error(EXPIRED);
      if (me) sessionStorage.setItem(BACK, location.hash);
      location.href = me ? "/login?error=expired" : "/login";
      throw new Error("未登录");
    }
    const body = (res.headers.get("content-type") || "").includes("json") ? await res.json() : null;
    if (!res.ok) throw new Error(reason(body) || `服务暂时不可用（${res.status}），请稍后再试`);
    return body;
  }

  // -- login page ------------------------------------------------------------------------
  // why a sign-in failed, by the key the workbench redirected with (http_session.py): only
  // these words are shown, never text from the address (a link must not be able to put its
  // own sentence on this page)
  const LOGIN_ERRORS = {csrf: "请从工作台登录页登录", empty: "请输入用户名和密码",
    "refused-400": "登录失败：用户名或密码格式不对", "refused-422": "登录失败：用户名或密码格式不对",
    "refused-401": "登录失败：用户名或密码错误，或账号已停用", "refused-403": "登录失败：此账号不能登录",
    "refused-423": "登录失败：连续登录失败次数过多，账号已暂时锁定，请稍后再试",
    "refused-429": "登录失败：登录尝试过于频繁，请稍后再试",
    unavailable: "认证服务暂不可用，请稍后再试", "not-staff": "此账号不能使用工作台",
    expired: "登录已过期（或已在别处退出），请重新登录"};
  if (document.body.classList.contains("login")) {
    const params = new URLSearchParams(location.search);
    const error = params.get("error");
    const msg = error !== null ? LOGIN_ERRORS[error] || "登录失败，请重试" : params.get("bye") ? "已退出登录" : "";
    if (msg) { const el = $("#message"); el.textContent = msg; el.hidden = false; }
    return;
  }

  let me = null;
  let names = {units: {}, categories: {}};  // Chinese names from dispatch's registry and taxonomy
  const unitName = (code) => zh(names.units, code);
  const views = ["list", "ticket", "desk", "callbacks", "hotline", "knowledge"];

  function fillSelect(name, table) {
    const sel = document.querySelector(`#filters [name=${name}]`);
    for (const [code, label] of Object.entries(table)) sel.append(h("option", {value: code}, label));
  }

  // -- the list --------------------------------------------------------------------------
  let cursor = "";
  let listSeq = 0;  // only the newest request may draw the table (an older answer may land later)
  function filterParams() {
    const params = new URLSearchParams();
    for (const [k, v] of new FormData($("#filters")).entries()) if (v) params.set(k, v);
    return params;
  }
  async function loadList(append) {
    const params = filterParams();
    const query = params.toString();
    $("#export").href = "/v1/tickets.xlsx?" + params.toString();
    if (append && cursor) params.set("cursor", cursor);
    const mine = ++listSeq;
    const page = await api("/v1/tickets?" + params.toString());
    if (mine !== listSeq) return;
    const rows = $("#rows");
    if (!append) rows.replaceChildren();
    rows.dataset.query = query;  // what the table shows now (tests and the export agree on it)
    for (const t of page.items) {
      rows.append(h("tr", {"data-code": t.code},
        h("td", {}, h("a", {href: "#ticket/" + t.code}, t.code)),
        h("td", {}, time(t.submitted_at)), h("td", {}, zh(CHANNEL, t.channel)),
        h("td", {}, zh(COUNTY, t.county)), h("td", {}, unitName(t.unit)),
        h("td", {class: "text"}, t.title_masked || t.text_masked),
        h("td", {}, zh(STATUS, t.status)),
        h("td", {class: t.overdue ? "overdue" : ""}, t.overdue ? "已超期" : time(t.due_at)),
        h("td", {}, zh(RATING, t.rating))));
    }
    if (!append && !page.items.length)  // a filter with no hits says so, not an empty table
      rows.append(h("tr", {class: "empty"}, h("td", {colspan: 9}, "没有符合条件的工单，请放宽筛选条件")));
    if (page.total !== null && page.total !== undefined)
      $("#total").textContent = `共 ${page.total >= page.total_capped_at ? page.total + "+" : page.total} 件`;
    cursor = page.next_cursor; $("#more").hidden = !cursor;
  }

  // -- one ticket ------------------------------------------------------------------------
  function section(title, body) { return h("div", {class: "card"}, h("h3", {}, title), body); }
  function unavailable(part) {
    return part && part.unavailable ? h("p", {class: "hint"}, reason(part)) : null;  // names the part
  }
  async function loadTicket(code) {
    const box = $("#ticket"); box.replaceChildren(h("p", {}, "加载中……"));
    const data = await api("/v1/tickets/" + encodeURIComponent(code));
    const t = data.ticket;
    const facts = [["诉求码", t.code], ["登记时间", time(t.submitted_at)], ["渠道", zh(CHANNEL, t.channel)],
      ["县区", zh(COUNTY, t.county)], ["地点", t.address_masked], ["类别", [t.category, t.subcategory].filter(Boolean).map((c) => zh(names.categories, c)).join(" / ")],
      ["承办单位", unitName(t.unit)], ["协办单位", (t.co_units || []).map(unitName).join("、")], ["状态", zh(STATUS, t.status)],
      ["办理时限", time(t.due_at) + (t.overdue ? "（已超期）" : "")], ["评价", zh(RATING, t.rating)],
      ["重办次数", t.reopen_count], ["并单", t.primary_code ? "并入 " + t.primary_code : ""]];
    const timeline = data.timeline || {};
    const entries = (timeline.entries || []).map((e) => h("li", {"data-event": e.event_type},
      h("span", {class: "when"}, time(e.occurred_at)), " ",
      h("strong", {}, EVENT[e.event_type] || e.event_type), " ",
      h("span", {class: "who"}, e.actor ? [zh(ROLE, e.actor.role), unitName(e.actor.unit) || e.actor.id].filter(Boolean).join(" · ") : e.producer),
      e.payload && (e.payload.reply_masked || e.payload.reason || e.payload.unit)
        ? h("div", {class: "detail"}, e.payload.reply_masked || e.payload.reason || ("单位：" + unitName(e.payload.unit))) : null,
      h("code", {class: "hash", title: "台账哈希"}, (e.entry_hash || "").slice(0, 12))));
    const clocks = ((data.clocks || {}).clocks || []).map((c) => h("li", {},
      `第${c.clock_no}轮 ${unitName(c.unit)} 时限 ${time(c.due_at)} ${zh(CLOCK, c.status || c.state)}`
      + (c.explanation_due_at ? `  说明时限 ${time(c.explanation_due_at)}` : "")
      + (c.explained_at ? `  已向群众说明 ${time(c.explained_at)}${c.explained_late ? "（逾期）" : ""}` : "")));
    const fb = data.feedback && !data.feedback.unavailable ? data.feedback : null;
    box.replaceChildren(...[
      h("h2", {}, t.title_masked || "工单 " + t.code),
      h("p", {class: "text"}, t.text_masked),
      t.reply_masked ? h("p", {class: "reply"}, "答复：" + t.reply_masked,
        [...t.reply_masked.matchAll(/〔附件：(.+?)，([0-9a-f]{12})〕/g)].map(([, name, sha]) =>
          h("a", {class: "attachment", href: `/v1/tickets/${encodeURIComponent(t.code)}/attachments/${sha}`, target: "_blank", rel: "noopener"}, " 查看" + name))) : null,
      h("dl", {class: "facts"}, facts.map(([k, v]) => [h("dt", {}, k), h("dd", {}, v === "" ? "—" : v)])),
      section("办理时限（计时）", clocks.length ? h("ul", {}, clocks) : unavailable(data.clocks) || h("p", {}, "暂无")),
      section("督办", ((data.orders || {}).items || []).length
        ? h("ul", {}, data.orders.items.map((o) => h("li", {class: "order", "data-status": o.status},
            `${time(o.issued_at)} 督办 ${unitName(o.unit)}：${o.reason}（${{open: "待答复", answered: "已答复", closed: "已关闭"}[o.status] || o.status}）`,
            o.answer_text ? h("div", {class: "detail"}, "答复：" + o.answer_text) : null)))
        : unavailable(data.orders) || h("p", {}, "无")),
      section("评价与回访", fb ? h("p", {}, `状态 ${zh(FEEDBACK, fb.status)}，第 ${fb.reply_round} 轮，评价 ${zh(RATING, fb.verdict) || "—"}，重办 ${fb.reopen_count} 次`)
        : unavailable(data.feedback) || h("p", {}, "—")),
      section("全流程记录（审计台账）", entries.length ? h("ol", {id: "timeline", class: "timeline"}, entries)
        : unavailable(timeline) || h("p", {}, "台账中暂无记录")),
      data.case && !data.case.unavailable ? section("并单", h("pre", {}, JSON.stringify(data.case, null, 1))) : null,
    ].filter(Boolean));
  }

  // -- the unit's desk -------------------------------------------------------------------
  function prompted(label, build) {
    return async () => {
      const value = prompt(label); if (value === null) return;
      await act(() => build(value));
    };
  }
  async function act(call) {
    flash("提交中……");
    try { await call(); }
    catch (e) { flash("操作未成功：" + e.message, true); return; }
    // "已提交" once the desk shows the result: a form filled before the redraw was lost
    try { await loadDesk(); } catch (e) { /* done all the same; the next load shows it */ }
    flash("已提交");
  }
  function replyForm(a) {
    // one retry key a form: a double click or a retry is this reply again; the next form (the
    // desk reloads after each reply) is a new reply, even in the same words (重办)
    const nonce = Array.from(crypto.getRandomValues(new Uint8Array(8)),
                             (b) => b.toString(16).padStart(2, "0")).join("");
    const form = h("form", {class: "reply-form", "data-code": a.ticket_code},
      h("input", {type: "hidden", name: "request_id",
                  value: `reply-${a.ticket_code}-${a.assignment_no}-${nonce}`}),
      h("textarea", {name: "text", rows: 3, required: true, "aria-label": "答复内容", placeholder: "答复内容（将回复市民）"}),
      h("select", {name: "outcome", "aria-label": "办理结果"}, Object.entries(OUTCOME).map(([v, l]) => h("option", {value: v}, l))),
      h("input", {type: "date", name: "expected_by", "aria-label": "预计办结日期（需较长时间办理时必填）",
                  title: "需较长时间办理：预计办结日期（必填）"}),
      h("input", {type: "file", name: "files", multiple: true, "aria-label": "附件（图片或PDF）", accept: "image/*,application/pdf"}),
      h("button", {type: "submit"}, "提交答复"));
    form.addEventListener("submit", (ev) => {
      ev.preventDefault();
      act(() => api(`/v1/desk/${a.ticket_code}/reply`, {method: "POST", body: new FormData(form)}));
    });
    return form;
  }
  async function loadDesk() {
    const data = await api("/v1/desk");
    const box = $("#desk"); box.replaceChildren();
    if (!data.assignments.length) box.append(h("p", {}, "暂无待办工单"));
    for (const a of data.assignments) {
      const code = a.ticket_code;
      const post = (path, json) => api(`/v1/desk/${code}/${path}`, {method: "POST", json: json || {}});
      const card = h("div", {class: "card assignment", "data-code": code, "data-status": a.status},
        h("h3", {}, h("a", {href: "#ticket/" + code}, code), " ", h("span", {class: "badge"}, zh(ASSIGNMENT, a.status)),
          a.role === "co_handling" ? h("span", {class: "badge"}, "协办") : h("span", {class: "badge"}, "主办")),
        h("p", {class: "text"}, a.title_masked ? a.title_masked + "：" + a.text_masked : a.text_masked),
        h("p", {class: "hint"}, `派单 ${time(a.assigned_at)}  签收时限 ${time(a.sign_for_due_at)}`
          + (a.bounce_back_due_at ? `  可退单至 ${time(a.bounce_back_due_at)}` : "")),
        h("div", {class: "actions"},
          // one retry key per assignment: a double click or a retry signs for once and says so
          a.status === "assigned" ? h("button", {class: "sign-for", onclick: () => act(() => post("sign-for",
            {request_id: `sign-for-${code}-${a.assignment_no}`}))}, "签收") : null,
          a.bounce_back_due_at && a.status === "assigned" ? h("button", {onclick: prompted("退单原因（必填）", (r) => post("bounce-back", {reason: r}))}, "退单") : null,
          h("button", {onclick: prompted("办理进展", (n) => post("note", {note: n}))}, "记录进展"),
          h("button", {onclick: prompted("申请延期几个工作日？", async (d) => {
            const r = prompt("延期理由（必填）"); if (!r) throw new Error("需填写理由");
            return post("extension", {working_days: Number(d), reason: r});
          })}, "申请延期"),
          h("button", {onclick: prompted("转办给哪个单位（单位代码）？", async (u) => {
            const r = prompt("转办理由（必填）"); if (!r) throw new Error("需填写理由");
            return post("transfer-request", {to_unit: u, reason: r});
          })}, "申请转办")),
        a.status === "signed_for" || a.status === "in_progress" ? replyForm(a) : null);
      box.append(card);
    }
    const orders = $("#orders"); orders.replaceChildren();
    if (!data.orders.length) orders.append(h("p", {}, "暂无督办单"));
    for (const o of data.orders) {
      orders.append(h("div", {class: "card order", "data-code": o.ticket_code},
        h("p", {}, `督办：${o.reason || ""}（工单 `, h("a", {href: "#ticket/" + o.ticket_code}, o.ticket_code),
          `，答复期限 ${time(o.answer_due_at)}）`),
        h("button", {class: "answer-order", onclick: prompted("督办答复", (t) => api(`/v1/orders/${o.order_id}/answer`, {method: "POST", json: {text: t}}))}, "答复督办")));
    }
  }

  // -- callbacks -------------------------------------------------------------------------
  async function loadCallbacks() {
    const data = await api("/v1/callbacks");
    const rows = $("#callback-rows"); rows.replaceChildren();
    const outcomes = {satisfied: "满意", basically_satisfied: "基本满意", dissatisfied: "不满意", unresolved: "未解决", not_reached: "未接通"};
    for (const c of data.items) {
      rows.append(h("tr", {"data-code": c.code}, h("td", {}, h("a", {href: "#ticket/" + c.code}, c.code)),
        h("td", {}, unitName(c.unit)), h("td", {}, c.reason_text),
        h("td", {}, Object.entries(outcomes).map(([o, label]) => h("button", {onclick: async () => {
          try { await api(`/v1/callbacks/${c.code}`, {method: "POST", json: {outcome: o, request_id: `cb-${c.code}-${c.reply_round}`}});
            flash(`${c.code} 已记录：${label}`); loadCallbacks(); }
          catch (e) { flash("未记录：" + e.message, true); }
        }}, label)))));
    }
    if (!data.items.length) rows.append(h("tr", {}, h("td", {colspan: 4}, "今日无待回访工单")));
  }

  // -- hotline and knowledge -------------------------------------------------------------
  function debounce(fn, ms) { let t; return (...a) => { clearTimeout(t); t = setTimeout(() => fn(...a), ms); }; }
  const KEEPERS = ["dispatcher", "supervisor"];  // who keeps the knowledge base
  function kbItem(e, onUse) {
    const keep = !onUse && KEEPERS.includes(me.role);
    const edit = async () => {
      const answer = prompt("修改答复口径", e.answer); if (answer === null) return;
      const source = prompt("来源", e.source); if (source === null) return;
      const today = new Date().toLocaleDateString("sv-SE", {timeZone: "Asia/Shanghai"});
      try {
        await api(`/v1/knowledge/${e.id}`, {method: "PUT", json: {topic: e.topic, question: e.question,
          answer, source, source_date: today, unit: e.unit || "", keywords: e.keywords || []}});
        flash("已修改"); searchKb($("#kb2-q").value, $("#kb2"));
      } catch (err) { flash("未修改：" + err.message, true); }
    };
    const retire = async () => {
      if (!confirm(`停用“${e.question}”？停用后不再显示。`)) return;
      try { await api(`/v1/knowledge/${e.id}`, {method: "DELETE"}); flash("已停用"); searchKb($("#kb2-q").value, $("#kb2")); }
      catch (err) { flash("未停用：" + err.message, true); }
    };
    return h("li", {class: "kb", "data-id": e.id}, h("strong", {}, `【${e.topic}】${e.question}`),
      h("p", {}, e.answer), h("p", {class: "hint"}, `来源：${e.source}（${e.source_date}）` + (e.edited_by ? `，维护：${e.edited_by}` : "")),
      onUse ? h("button", {class: "use", onclick: () => onUse(e)}, "当场答复（采用此条）") : null,
      keep ? h("span", {class: "actions"}, h("button", {class: "edit", onclick: edit}, "修改"),
        h("button", {class: "retire", onclick: retire}, "停用")) : null);
  }
  async function searchKb(q, list, onUse) {
    const data = await api("/v1/knowledge?q=" + encodeURIComponent(q));
    list.replaceChildren(...data.items.map((e) => kbItem(e, onUse)));
    if (!data.items.length) list.append(h("li", {}, "没有找到相关条目"));
  }
  const similar = debounce(async () => {
    const f = $("#call");
    const params = new URLSearchParams({text: f.summary.value, address: f.address.value});
    const data = await api("/v1/hotline/similar?" + params);
    $("#similar").replaceChildren(...data.items.map((t) => h("li", {"data-code": t.code},
      h("strong", {}, t.code), ` ${zh(STATUS, t.status)} ${t.same_place ? "【同一地点】" : ""} `,
      t.title_masked || t.text_masked, h("span", {class: "hint"}, ` ${t.address_masked || ""}`))));
    if (!data.items.length) $("#similar").append(h("li", {class: "hint"}, "暂无相似在办工单"));
  }, 300);
  function setupHotline() {
    const f = $("#call");
    f.summary.addEventListener("input", similar); f.address.addEventListener("input", similar);
    const useAnswer = (e) => {
      f.knowledge_id.value = e.id;
      if (!f.category_hint.value) f.category_hint.value = "咨询";
      $("#chosen").replaceChildren(`当场答复，不派单：${e.question}（${e.source}，${e.source_date}） `,
        h("button", {type: "button", class: "unchoose", onclick: () => {
          f.knowledge_id.value = ""; $("#chosen").textContent = "";
        }}, "取消（照常派单）"));
    };
    $("#kb-q").addEventListener("input", debounce(() => searchKb($("#kb-q").value, $("#kb"), useAnswer), 250));
    // one call, one ticket: the call's id is intake's retry key (a double click or a retry after
    // a lost answer gets the same code back), made anew once a call is registered
    // (getRandomValues: randomUUID exists on https and localhost only)
    const newCallId = () => "wb" + Array.from(crypto.getRandomValues(new Uint8Array(12)),
      (b) => b.toString(16).padStart(2, "0")).join("");
    let callId = newCallId();
    const send = $("#submit-call");
    f.addEventListener("submit", async (ev) => {
      ev.preventDefault();
      if (send.disabled) return;
      send.disabled = true;
      const body = {call_id: callId, caller_number: f.caller_number.value, caller_name: f.caller_name.value,
        anonymous: f.anonymous.checked, address: f.address.value, summary: f.summary.value,
        category_hint: f.category_hint.value};
      if (f.knowledge_id.value) body.knowledge_id = Number(f.knowledge_id.value);
      const out = $("#call-result");
      try {
        const res = await api("/v1/hotline/calls", {method: "POST", json: body});
        out.textContent = `已登记，诉求码 ${res.code}` + (res.replayed ? "（重复提交，仍是同一工单）" : "") + (res.status === "answered_on_spot"
          ? "，已当场答复（不派单），市民将收到答复并可评价" : res.status === "rejected" ? "，不予受理：" + (res.rejection || {}).reason_text : "");
        out.className = "message"; out.dataset.code = res.code;
        // reset() keeps a hidden input's value: without this every later call would be
        // "answered on the spot" with the entry chosen once, and never reach a unit
        f.reset(); f.knowledge_id.value = ""; $("#chosen").textContent = ""; callId = newCallId();
      } catch (e) { out.textContent = "登记失败：" + e.message; out.className = "message bad"; }
      finally { send.disabled = false; }
      out.hidden = false;
    });
  }
  function setupKnowledge() {
    $("#kb2-q").addEventListener("input", debounce(() => searchKb($("#kb2-q").value, $("#kb2")), 250));
    const form = $("#kb-add");
    const save = form.querySelector("button[type=submit]");
    form.addEventListener("submit", async (ev) => {
      ev.preventDefault();
      if (save.disabled) return;  // a double click saved the entry twice
      save.disabled = true;
      const body = Object.fromEntries(new FormData(form).entries());
      try { await api("/v1/knowledge", {method: "POST", json: body}); flash("已保存"); form.reset(); }
      catch (e) { flash("未保存：" + e.message, true); }
      finally { save.disabled = false; }
    });
  }

  // -- routing ---------------------------------------------------------------------------
  async function route() {
    const [view, arg] = (location.hash.slice(1) || "").split("/");
    const allowed = (name) => { const a = document.querySelector(`#nav a[href="#${name}"]`); return !a || a.dataset.roles.split(" ").includes(me.role); };
    let name = views.includes(view) && allowed(view) ? view : null;
    // each role starts its day where its work is
    const home = {unit: "desk", channel_adapter: "hotline"}[me.role] || "list";
    if (!name) name = [home, "list", "desk", "hotline", "knowledge"].find(allowed);
    for (const v of views) $("#view-" + v).hidden = v !== name;
    flash(name ? "" : ELSEWHERE[me.role] || `此账号的角色（${me.role}）在工作台没有可用页面。`, !name);
    try {
      if (name === "list") await loadList(false);
      if (name === "ticket") await loadTicket(decodeURIComponent(arg || ""));
      if (name === "desk") await loadDesk();
      if (name === "callbacks") await loadCallbacks();
      if (name === "knowledge") await searchKb("", $("#kb2"));
    } catch (e) { flash(e.message, true); }
  }

  async function start() {
    try { me = await api("/v1/me"); } catch (e) { return; }
    const back = sessionStorage.getItem(BACK);
    sessionStorage.removeItem(BACK);
    if (back && !location.hash) history.replaceState(null, "", back);
    $("#who").textContent = `${me.sub}（${{channel_adapter: "话务员", dispatcher: "派单员", supervisor: "督办", unit: "承办单位 " + me.unit, auditor: "审计", observer: "观察员"}[me.role] || me.role}）`;
    for (const el of document.querySelectorAll("[data-roles]"))
      el.hidden = !el.dataset.roles.split(" ").includes(me.role);
    if (["dispatcher", "supervisor", "unit"].includes(me.role))
      names = await api("/v1/names").catch(() => names);
    fillSelect("channel", CHANNEL); fillSelect("county", COUNTY); fillSelect("status", STATUS); fillSelect("rating", RATING);
    fillSelect("unit", names.units); fillSelect("category", names.categories);
    $("#filters").addEventListener("submit", (ev) => { ev.preventDefault(); loadList(false).catch((e) => flash(e.message, true)); });
    $("#more").addEventListener("click", () => loadList(true).catch((e) => flash(e.message, true)));
    setupHotline(); setupKnowledge();
    window.addEventListener("hashchange", route);
    await route();
  }
  start();
})();
