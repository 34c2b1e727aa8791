"""The admin page's accounts and identity-mapping tabs (pages/admin.py), and its notices.

Each button's callback sends one request to services/admin.py and keeps its outcome in the session
(``NOTICE``): a success, the refusal in the chosen language, and a secret (a generated password or a
kiosk link) that is shown once and then dropped.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pandas as pd
import streamlit as st

from pages import ui
from services import access, admin, identities
from services.access import Principal
from services.i18n import label, t
from services.store.base import Store

NOTICE = "admin_notice"



def act(lang: str, request: Callable[[], Any], done: Callable[[Any], tuple[str, str | None]]) -> None:
    """Run ``request``; keep ``done(result)`` (a message and a secret to show once, or None) or the
    refusal as the notice of the next run."""
    ui.act(NOTICE, lang, request, done)


def show_notice(lang: str) -> None:
    """The last request's outcome, once (a secret in it is not shown again)."""
    kept = ui.notice(NOTICE)
    if kept is not None and kept[0] == "success" and kept[2]:
        st.code(kept[2], language=None)
        st.warning(t("admin.shown_once", lang))


def area_select(store: Store, role: str, lang: str, key: str, current: str | None = None) -> str | None:
    """The area of an account or mapping of ``role``: a select of the right kind of codes by name, or none
    (with a note) for a district-wide role."""
    choices = admin.area_choices(role, lang, store)
    if not choices:
        st.caption(t("admin.no_area", lang))
        return None
    codes = list(choices)
    index = codes.index(current) if current in codes else 0
    return st.selectbox(t("admin.acc_area", lang), codes, index=index, key=key,
                        format_func=lambda c: f"{choices.get(c, c)} ({c})")


def _role_select(lang: str, key: str, current: str | None = None) -> str:
    roles = list(access.ROLES)
    return st.selectbox(t("admin.acc_role", lang), roles, index=roles.index(current) if current in roles else 0,
                        key=key, format_func=lambda r: label("role", r, lang))


# -- accounts -------------------------------------------------------------------------------------------
def _on_add(store: Store, who: Principal, lang: str) -> None:
    ss = st.session_state
    role = ss.get("adm_new_role", access.ROLES[0])
    area = ss.get(f"adm_new_area_{role}") if admin.area_choices(role, lang, store) else None
    act(lang, lambda: admin.add_account(store, who, ss.get("adm_new_name", ""), role, area,
                                        ss.get("adm_new_display", "")),
        lambda r: (t("admin.added", lang, name=r[0].name) + " " + t("admin.new_password", lang, name=r[0].name),
                   r[1]))
    if st.session_state[NOTICE][0] == "success":  # a blank form again: the same name twice is a slip
        ss["adm_new_name"], ss["adm_new_display"] = "", ""


def _on_change(store: Store, who: Principal, lang: str, name: str) -> None:
    ss = st.session_state
    role = ss.get(f"adm_ch_role_{name}")
    area = ss.get(f"adm_ch_area_{name}_{role}") if admin.area_choices(role, lang, store) else None
    act(lang, lambda: admin.change_account(store, who, name, role=role, area_code=area,
                                           display_name=ss.get(f"adm_ch_display_{name}", "")),
        lambda a: (t("admin.changed", lang, name=a.name), None))


def _on_reset(store: Store, who: Principal, lang: str, name: str) -> None:
    act(lang, lambda: admin.reset_password(store, who, name),
        lambda pw: (t("admin.password_reset", lang, name=name), pw))


def _on_disable(store: Store, who: Principal, lang: str, name: str) -> None:
    act(lang, lambda: admin.disable_account(store, who, name),
        lambda a: (t("admin.disabled_done", lang, name=a.name), None))


def accounts_tab(store: Store, who: Principal, lang: str) -> None:
    frame = admin.accounts(store, who)
    st.dataframe(admin.account_view(frame, lang, store), hide_index=True, width="stretch")

    st.subheader(t("admin.add_account", lang))
    c1, c2 = st.columns(2)
    c1.text_input(t("admin.acc_name", lang), key="adm_new_name")
    c2.text_input(t("admin.acc_display_name", lang), key="adm_new_display")
    with c1:
        role = _role_select(lang, "adm_new_role")
    with c2:
        area_select(store, role, lang, f"adm_new_area_{role}")
    st.button(t("admin.add", lang), key="adm_add", on_click=_on_add, args=(store, who, lang), type="primary")

    if frame.empty:
        return
    st.subheader(t("admin.change_account", lang))
    rows = {r["name"]: r for r in frame.to_dict("records")}
    name = st.selectbox(t("admin.pick_account", lang), list(rows), key="adm_pick",
                        format_func=lambda n: f"{n} · {label('role', rows[n]['role'], lang)}"
                        + ("" if not rows[n]["disabled"] else f" · {t('admin.disabled', lang)}"))
    row = rows[name]
    c1, c2 = st.columns(2)
    with c1:
        role = _role_select(lang, f"adm_ch_role_{name}", row["role"])
        st.text_input(t("admin.acc_display_name", lang), value=row["display_name"] or "",
                      key=f"adm_ch_display_{name}")
    with c2:
        area_select(store, role, lang, f"adm_ch_area_{name}_{role}", row["area_code"])
    b1, b2, b3 = st.columns(3)
    b1.button(t("admin.save", lang), key="adm_save", on_click=_on_change, args=(store, who, lang, name))
    b2.button(t("admin.reset_password", lang), key="adm_reset", on_click=_on_reset, args=(store, who, lang, name))
    b3.button(t("admin.disable", lang), key="adm_disable", on_click=_on_disable, args=(store, who, lang, name),
              disabled=bool(row["disabled"]))


# -- identity mapping -----------------------------------------------------------------------------------
def _on_map(store: Store, who: Principal, lang: str) -> None:
    ss = st.session_state
    role = ss.get("adm_id_role", access.ROLES[0])
    area = ss.get(f"adm_id_area_{role}") if admin.area_choices(role, lang, store) else None
    act(lang, lambda: admin.map_identity(store, who, ss.get("adm_id_provider", identities.PROVIDERS[0]),
                                         ss.get("adm_id_kind", identities.KINDS[0]), ss.get("adm_id_value", ""),
                                         role, area),
        lambda r: (t("admin.mapped", lang, id=r["id"]), None))


def _on_unmap(store: Store, who: Principal, lang: str) -> None:
    mapping = st.session_state.get("adm_id_pick")
    act(lang, lambda: admin.unmap_identity(store, who, mapping),
        lambda r: (t("admin.unmapped", lang, id=r["id"]), None))


def _area_name(store: Store, role: str, code: Any, lang: str) -> str:
    if not code:
        return ""
    return admin.area_choices(role, lang, store).get(code, str(code))


def identities_tab(store: Store, who: Principal, lang: str) -> None:
    st.caption(t("admin.id_intro", lang))
    frame = admin.identity_mappings(store, who)
    rows = frame.to_dict("records")
    if rows:
        view = pd.DataFrame({
            t("admin.id_id", lang): [int(r["id"]) for r in rows],
            t("admin.id_provider", lang): [label("sign_in_method", r["provider"], lang) for r in rows],
            t("admin.id_kind", lang): [label("identity_kind", r["kind"], lang) for r in rows],
            t("admin.id_value", lang): [r["value"] for r in rows],
            t("admin.acc_role", lang): [label("role", r["role"], lang) for r in rows],
            t("admin.acc_area", lang): [_area_name(store, r["role"], r["area_code"], lang) for r in rows],
            t("admin.id_created_at", lang): [ui.when(r["created_at"]) for r in rows],
            t("admin.id_created_by", lang): [r["created_by"] for r in rows],
        })
        st.dataframe(view, hide_index=True, width="stretch")
    else:
        st.caption(t("admin.empty", lang))

    st.subheader(t("admin.add_mapping", lang))
    c1, c2 = st.columns(2)
    c1.selectbox(t("admin.id_provider", lang), list(identities.PROVIDERS), key="adm_id_provider",
                 format_func=lambda p: label("sign_in_method", p, lang))
    c2.selectbox(t("admin.id_kind", lang), list(identities.KINDS), key="adm_id_kind",
                 format_func=lambda k: label("identity_kind", k, lang))
    st.text_input(t("admin.id_value", lang), key="adm_id_value")
    c1, c2 = st.columns(2)
    with c1:
        role = _role_select(lang, "adm_id_role")
    with c2:
        area_select(store, role, lang, f"adm_id_area_{role}")
    st.button(t("admin.add", lang), key="adm_id_add", on_click=_on_map, args=(store, who, lang), type="primary")

    if rows:
        st.subheader(t("admin.remove_mapping", lang))
        by_id = {int(r["id"]): r for r in rows}
        st.selectbox(t("admin.pick_mapping", lang), list(by_id), key="adm_id_pick",
                     format_func=lambda i: f"{i} · {label('sign_in_method', by_id[i]['provider'], lang)} · "
                                           f"{label('identity_kind', by_id[i]['kind'], lang)} · {by_id[i]['value']}")
        st.button(t("admin.remove", lang), key="adm_id_remove", on_click=_on_unmap, args=(store, who, lang))
