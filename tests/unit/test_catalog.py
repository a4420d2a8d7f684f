"""The model catalogue: extraction from the page (§4.1), types (§4.3) and what is offered."""

from __future__ import annotations

import json
from typing import Any

import pytest

from lmarenarev.arena.catalog import (
    extract_models,
    model_kind,
    model_name,
    model_type,
    models_json_value,
)
from lmarenarev.arena.catalog_route import read_catalog
from lmarenarev.chat.plan import resolve_model
from lmarenarev.errors import InvalidRequest, ModelNotFound
from lmarenarev.models.catalog import (
    Catalog,
    effective_models,
    gone_error,
    model_aliases,
    model_cards,
    no_models_hint,
    plan_merge,
)
from lmarenarev.models.files import ModelEntry
from lmarenarev.ops.upkeep import catalog_interval
from testkit.fakes.arena import DEFAULT_MODELS, FakeArena
from testkit.fakes.arena_page import PageData, page_html, script_json


def fake_page(models: list[dict[str, Any]]) -> str:
    arena = FakeArena(models=models)
    return page_html(PageData(arena.models, models[0]["id"], None, "key", "static/x.js", {}))


def test_the_fake_pages_models_come_back_whole() -> None:
    assert extract_models(fake_page(DEFAULT_MODELS)) == DEFAULT_MODELS


def test_escaped_payload_alone_is_enough() -> None:
    """Only the escaped text of the RSC payload, no parseable push around it (§4.1 G, L)."""
    html = fake_page(DEFAULT_MODELS)
    start = html.index('\\"initialModels\\"')
    assert extract_models("<div>" + html[start - 30 :]) == DEFAULT_MODELS


def test_a_row_split_across_two_pushes() -> None:
    row = json.dumps(["$", "$L1", None, {"initialModels": DEFAULT_MODELS, "initialModelAId": "x"}])
    half = len(row) // 2
    pushes = "".join(
        f"<script>self.__next_f.push([1,{script_json(part)}])</script>"
        for part in ("2:" + row[:half], row[half:] + "\n")
    )
    assert extract_models(pushes) == DEFAULT_MODELS


def test_plain_json_like_next_data() -> None:
    data = {"props": {"pageProps": {"initialModels": DEFAULT_MODELS[:2]}}}
    page = f'<script id="__NEXT_DATA__" type="application/json">{json.dumps(data)}</script>'
    assert extract_models(page) == DEFAULT_MODELS[:2]


def test_unicode_brackets_and_quotes_inside_strings() -> None:
    model = {"id": "m1", "publicName": 'odd "name" ] } [ 😀 é', "capabilities": {}}
    page = fake_page([model])
    assert extract_models(page) == [model]
    start = page.index('\\"initialModels\\"')
    assert extract_models(page[start - 1 :]) == [model]


@pytest.mark.parametrize(
    "page",
    [
        "",
        "<html>no models here</html>",
        '{"initialModels": "not a list"}',
        '{"initialModels": [1, 2, {"name": "no id"}]}',
        '{"initialModels": [{"id": "x", "publicName": "cut',
    ],
)
def test_no_models(page: str) -> None:
    assert extract_models(page) == []


def test_duplicates_are_dropped() -> None:
    twice = [DEFAULT_MODELS[0], DEFAULT_MODELS[0], DEFAULT_MODELS[1]]
    assert extract_models(json.dumps({"initialModels": twice})) == DEFAULT_MODELS[:2]


def caps(**outputs: Any) -> dict[str, Any]:
    return {"id": "i", "publicName": "n", "capabilities": {"outputCapabilities": outputs}}


@pytest.mark.parametrize(
    ("model", "expected"),
    [
        (caps(text=True), "text"),
        (caps(text=True, web=True), "text"),
        (caps(web=True), "text"),
        (caps(image={"aspectRatios": ["1:1"]}), "image"),
        (caps(text=True, search=True), "search"),
        (caps(video=True), None),
        (caps(text=True, video=True), "text"),
        ({"id": "i", "publicName": "n"}, "text"),
    ],
)
def test_model_type_from_capabilities(model: dict[str, Any], expected: str | None) -> None:
    assert model_type(model) == expected


def test_models_json_values() -> None:
    assert models_json_value(caps(text=True)) == "i"
    assert models_json_value(caps(image=True)) == "i:image"
    assert models_json_value(caps(search=True)) == "i:search"
    assert models_json_value(caps(video=True)) is None


# --- what the gateway offers ---------------------------------------------------------------------

GPT = DEFAULT_MODELS[0]
CONFIGURED = {
    "gpt": ModelEntry("gpt", GPT["id"], "text"),
    "gone": ModelEntry("gone", "0000", "text"),
    "legacy-image": ModelEntry("legacy-image", None, "image"),
}


def test_without_expose_models_json_is_all() -> None:
    assert effective_models(CONFIGURED, DEFAULT_MODELS, expose=False) == (CONFIGURED, {})


def test_with_expose_the_catalogue_is_added_and_withdrawn_models_refused() -> None:
    models, withdrawn = effective_models(CONFIGURED, DEFAULT_MODELS, expose=True)
    assert withdrawn == {"gone": "0000"}
    assert models["gpt"] is CONFIGURED["gpt"]  # models.json names win
    assert models["legacy-image"] is CONFIGURED["legacy-image"]  # no id: nothing to check
    painter = ModelEntry("fake-painter", DEFAULT_MODELS[3]["id"], "image", automatic=True)
    assert models["fake-painter"] == painter  # from LMArena's list, so marked automatic
    assert "fake-gpt" in models  # its own name too


def test_a_model_with_a_new_id_keeps_working_under_its_name() -> None:
    renamed = {"fake-gpt": ModelEntry("fake-gpt", "old-id", "text")}
    models, withdrawn = effective_models(renamed, DEFAULT_MODELS, expose=True)
    assert withdrawn == {}
    assert models["fake-gpt"] == ModelEntry("fake-gpt", GPT["id"], "text")


def test_an_empty_catalogue_withdraws_nothing() -> None:
    assert effective_models(CONFIGURED, [], expose=True) == (CONFIGURED, {})


@pytest.mark.parametrize("expose", [False, True])
def test_without_models_json_every_catalogue_model_is_offered_automatically(
    expose: bool,
) -> None:
    video = {**caps(video=True), "id": "v", "publicName": "fake-video"}
    models, withdrawn = effective_models({}, [*DEFAULT_MODELS, video], expose=expose)
    assert withdrawn == {}
    assert set(models) == {m["publicName"] for m in DEFAULT_MODELS}  # no video-only model
    assert models["fake-painter"] == ModelEntry(
        "fake-painter", DEFAULT_MODELS[3]["id"], "image", automatic=True
    )
    assert all(entry.automatic for entry in models.values())
    assert effective_models({}, [], expose=expose) == ({}, {})


def test_models_json_overrides_the_automatic_list() -> None:
    mine = {"mine": ModelEntry("mine", GPT["id"], "text")}
    assert effective_models(mine, DEFAULT_MODELS, expose=False) == (mine, {})
    models, _ = effective_models(mine, DEFAULT_MODELS, expose=True)
    assert not models["mine"].automatic and models["fake-claude"].automatic


def test_an_automatic_model_card_is_marked_and_described() -> None:
    models, _ = effective_models({}, DEFAULT_MODELS, expose=False)
    cards = {card.id: card for card in model_cards(models, DEFAULT_MODELS, False, created=1)}
    painter = cards["fake-painter"]
    assert painter.automatic is True and painter.owned_by == "google"
    assert painter.capabilities == DEFAULT_MODELS[3]["capabilities"]
    mine = {"mine": ModelEntry("mine", GPT["id"], "text")}
    (card,) = model_cards(mine, DEFAULT_MODELS, expose=False, created=1)
    assert card.automatic is None  # not in the JSON at all (exclude_none)


@pytest.mark.parametrize(
    ("minutes", "error", "says"),
    [
        (30, None, "open https://arena.ai/text/direct"),
        (30, "no tab answered", "the last read failed: no tab answered"),
        (0, None, "model_catalog_refresh_minutes is 0"),
    ],
)
def test_with_no_model_a_request_is_told_how_to_get_them(
    minutes: float, error: str | None, says: str
) -> None:
    hint = no_models_hint(Catalog(last_error=error), minutes)
    assert says in hint
    assert "Without models.json the gateway offers every model of LMArena's list" in hint
    assert "lmarenarev update-models --merge-all" in hint
    with pytest.raises(ModelNotFound) as caught:
        resolve_model({}, "gpt-5", hint)
    assert caught.value.message == f"The model 'gpt-5' does not exist. {hint}"


def test_model_cards_carry_capabilities_when_exposed() -> None:
    models = {"fake-painter": ModelEntry("fake-painter", DEFAULT_MODELS[3]["id"], "image")}
    (card,) = model_cards(models, DEFAULT_MODELS, expose=True, created=1)
    assert (card.type, card.owned_by) == ("image", "google")
    assert card.capabilities == DEFAULT_MODELS[3]["capabilities"]
    (plain,) = model_cards(models, DEFAULT_MODELS, expose=False, created=1)
    assert plain.capabilities is None and plain.owned_by == "lmarenarev"


def test_merge_plan() -> None:
    video = {**caps(video=True), "id": "v", "publicName": "fake-video"}
    catalog = [*DEFAULT_MODELS, video]
    plan = plan_merge(catalog, {"fake-gpt": CONFIGURED["gpt"]}, [], merge_all=True)
    assert plan.present == ["fake-gpt"]
    assert plan.skipped == {"fake-video": "video-only model (the gateway has no video output)"}
    assert plan.add["fake-searcher"] == DEFAULT_MODELS[4]["id"] + ":search"
    assert len(plan.add) == 5
    named = plan_merge(catalog, {}, ["fake-claude", "fake-claude"], merge_all=False)
    assert named.add == {"fake-claude": DEFAULT_MODELS[1]["id"]}
    with pytest.raises(InvalidRequest, match="did you mean fake-claude"):
        plan_merge(catalog, {}, ["fake-claud"], merge_all=False)


def test_while_no_model_is_offered_the_catalogue_is_read_again_within_a_minute() -> None:
    assert catalog_interval(30, offering=True) == 1800
    assert catalog_interval(30, offering=False) == 60
    assert catalog_interval(0.5, offering=False) == 30
# --- the 2026 catalogue route (§4.1, §4.2 "Since 2026") ----------------------------------------


def catalogue(era_changes: dict[str, Any] | None = None) -> str:
    from testkit.fakes.arena_models import DEFAULT_ARENAS, NEW_MODELS, catalog_body

    renames = (era_changes or {}).get("renames")
    return json.dumps(catalog_body([*DEFAULT_MODELS, *NEW_MODELS], DEFAULT_ARENAS, renames))


def test_the_catalogue_is_merged_by_model_with_its_arenas() -> None:
    read = read_catalog(catalogue())
    assert read is not None and read.nameless == 0 and read.unknown_fields == []
    by_name = {model_name(m): m for m in read.models}
    assert len(by_name) == 9
    assert by_name["fake-gpt"]["arenas"] == ["text", "code", "document"]
    assert read.arenas == {"text": 5, "code": 3, "document": 2, "text-to-video": 1,
                           "text-to-image": 1, "search": 1}
    kinds = {name: model_kind(model) for name, model in by_name.items()}
    assert (kinds["fake-painter"], kinds["fake-searcher"], kinds["fake-director"],
            kinds["fake-coder"], kinds["kiteki"]) == ("image", "search", "video", "code", "text")
    assert model_type(by_name["fake-coder"]) is None  # listed as what it is, not served


def test_a_renamed_field_is_reported_and_its_models_counted() -> None:
    read = read_catalog(catalogue({"renames": {"id": "modelId"}}))
    assert read is not None and read.models == []
    assert read.nameless == 13  # entries, over every arena
    assert read.unknown_fields == ["modelId"]


@pytest.mark.parametrize("text", ["", "{}", '{"arena": "text"}', "[1, 2]", "<html>"])
def test_what_is_not_a_catalogue_is_none(text: str) -> None:
    assert read_catalog(text) is None


def test_unknown_arenas_keep_their_models_listed() -> None:
    body = json.dumps([{"arena": "text-to-audio", "models": [
        {"id": "a1", "publicName": "speaker", "capabilities": {}}]}])
    read = read_catalog(body)
    assert read is not None and read.unknown_arenas == ["text-to-audio"]
    assert [model_kind(m) for m in read.models] == ["text"]


def test_a_model_answers_to_its_id_and_all_three_names() -> None:
    read = read_catalog(catalogue())
    assert read is not None
    configured = {"fake-gpt": ModelEntry("fake-gpt", GPT["id"], "text")}
    aliases = model_aliases(configured, read.models)
    for alias in (GPT["id"], "fake-gpt-2026-09-01", "Fake GPT 5"):
        assert aliases[alias] == "fake-gpt"
    assert "fake-gpt" not in aliases


def test_a_gone_model_is_withdrawn_whatever_the_catalogue_says() -> None:
    models, withdrawn = effective_models(CONFIGURED, DEFAULT_MODELS, expose=False,
                                         gone={GPT["id"]})
    assert "gpt" not in models and withdrawn == {"gpt": GPT["id"]}
    error = gone_error("gpt", GPT["id"], ["gpt-4", "claude"])
    assert error.status == 404 and error.code == "model_not_available"
    assert "Close alternatives: gpt-4" in error.message
