"""District map (辖区地图): the district's layers drawn offline, the base of the wall and the planner."""

from __future__ import annotations

import pandas as pd
import streamlit as st

from geo import mapview
from pages import ui
from services import district
from services.i18n import label, t

lang = ui.lang()
ui.require("map", lang)
st.title(t("map.title", lang))
st.caption(t("map.caption", lang))

store = ui.store()
overview = district.overview(store)
cols = st.columns(6)
for col, (key, value) in zip(cols, [
    ("map.population", f"{overview['population']:,}"),
    ("map.area_km2", f"{overview['area_km2']:.1f}"),
    ("map.communities", overview["communities"]),
    ("map.grids", f"{overview['grids']:,}"),
    ("map.stations", overview["stations"]),
    ("map.buildings", f"{overview['buildings']:,}"),
], strict=True):
    col.metric(t(key, lang), value)

subs = district.subdistrict_table(store, lang)
with st.sidebar:
    st.subheader(t("map.layers", lang))
    visible = tuple(kind for kind in district.BASE_LAYERS
                    if st.checkbox(t(f"layer.{kind}", lang), value=kind in district.DEFAULT_VISIBLE, key=f"layer_{kind}"))
    focus_options = [""] + subs.code.tolist()
    names = district.names("subdistrict", lang)
    focus = st.selectbox(t("map.focus", lang), focus_options, key="map_focus",
                         format_func=lambda c: names.get(c, t("map.whole_district", lang)))

layers = district.base_layers(visible, lang, store=store)
view = mapview.view_state(district.bounds(focus or None), width_px=1000, height_px=720)
st.pydeck_chart(mapview.deck(layers, view, tooltip=district.base_tooltip(lang)), height=720, key="district_map")

with st.expander(t("map.legend", lang), expanded=True):
    legend = " ".join(
        f"<span style='display:inline-block;width:14px;height:14px;background:rgba{tuple(c[:3]) + (0.8,)};"
        f"margin:0 4px 0 12px;vertical-align:middle'></span>{label('unit_type', k, lang)}"
        for k, c in mapview.UNIT_TYPE_COLORS.items())
    legend += " ".join(
        f"<span style='display:inline-block;width:12px;height:12px;border-radius:6px;background:rgb{tuple(c[:3])};"
        f"margin:0 4px 0 12px;vertical-align:middle;border:1px solid #333'></span>{label('station_level', k, lang)}"
        for k, c in mapview.STATION_COLORS.items())
    st.markdown(legend, unsafe_allow_html=True)

st.subheader(t("map.per_subdistrict", lang))
table = pd.DataFrame({
    t("map.col_name", lang): subs.name, t("map.col_code", lang): subs.code,
    t("map.col_population", lang): subs.population, t("map.col_area", lang): subs.area_km2,
    t("map.col_communities", lang): subs.communities, t("map.col_grids", lang): subs.grids,
    t("map.col_stations", lang): subs.stations,
})
st.dataframe(table, hide_index=True, width="stretch")
repaired = district.repaired_polygons()
if repaired:
    st.warning(t("map.repairs", lang, n=repaired))
st.caption(district.source_description(lang))
