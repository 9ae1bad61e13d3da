"""Managing the registry and the troubles (admins), and the report of untested buttons.

    POST   /api/v1/devices                    add a button (a registry entry, as in the file)
    PATCH  /api/v1/devices/{id}               change its site, label or check-in period
    DELETE /api/v1/devices/{id}               remove it
    PUT    /api/v1/devices/{id}/test-mode     {"test_mode": true} for a maintenance visit
    POST   /api/v1/sites                      add a site
    PATCH  /api/v1/sites/{id}                 change its name, address, phone or position
    DELETE /api/v1/sites/{id}                 remove a site without buttons
    PUT    /api/v1/sites/{id}/test-mode       the whole site in test mode
    GET    /api/v1/registry.toml              the registry as a file (what `registry import` reads)
    POST   /api/v1/registry/import            the file (TOML, as the body): what it would change,
                                              and with ?apply=true&expect=…, the change made
    POST   /api/v1/troubles/{id}/clear        {"note"}: clear a latched trouble (a tamper)
    GET    /api/v1/reports/untested?days=30   buttons without a test press in that many days

Every change is committed with its audit entry, the admin as actor (hub/registry/commands.py).
"""

from __future__ import annotations

from typing import Annotated, Any, Literal

from fastapi import APIRouter, HTTPException, Query, Request, status
from fastapi.responses import PlainTextResponse
from pydantic import BaseModel, ConfigDict, Field

from hub.api.auth import Admin, Context, Viewer
from hub.api.errors import refused, responses, unprocessable, unprocessable_error
from hub.api.registry import DeviceView, SiteView, device_view, site_views
from hub.api.troubles import TroubleView
from hub.clock import parse_iso
from hub.domain.kinds import ButtonKind, ButtonPatterns
from hub.domain.model import Button, Site, TroubleState
from hub.errors import RegistryConflict, RegistryError, RegistryNotFound
from hub.registry.commands import (
    AddButton,
    AddSite,
    ClearTroubleById,
    EditButton,
    EditSite,
    RemoveButton,
    RemoveSite,
    SetTestMode,
    registry_file,
    to_toml,
    untested_cutoff,
)
from hub.registry.file import ButtonEntry, SiteEntry, parse_registry_text
from hub.registry.importing import Changed, Diff, ImportRegistry, diff, fingerprint
from hub.store.db import READ_ERRORS
from hub.writer.plan import Command

router = APIRouter(prefix="/api/v1", tags=["manage"])


class TestModeBody(BaseModel):
    test_mode: bool = Field(description="true for a maintenance visit; false when it is over")
    duration_s: int | None = Field(
        default=None,
        ge=1,
        le=7 * 24 * 3600,
        description="with test_mode true: it ends by itself after this many seconds (the page "
        "offers 2 h by default); left out: it stays on until turned off",
    )


class SiteChange(BaseModel):
    """The fields to change; those left out stay as they are."""

    model_config = ConfigDict(extra="forbid")

    name: str = Field(default="", min_length=1, max_length=200)
    address: str = Field(default="", max_length=500)
    phone: str = Field(default="", max_length=50)
    lat: float | None = Field(default=None, ge=-90, le=90)
    lon: float | None = Field(default=None, ge=-180, le=180)


class ButtonChange(BaseModel):
    """The fields to change; those left out stay as they are. `site: null` detaches the button."""

    model_config = ConfigDict(extra="forbid")

    site: str | None = Field(default=None, max_length=64)
    label: str = Field(default="", max_length=200)
    checkin_s: int | None = Field(default=None, ge=1, le=7 * 24 * 3600)
    power: Literal["mains", "battery"] | None = Field(
        default=None, description="How the button is powered (null: as its profile says)."
    )
    kind: ButtonKind
    press_patterns: ButtonPatterns


class ClearBody(BaseModel):
    note: str = Field(min_length=1, max_length=500, description="Why it is cleared; required.")


class Removed(BaseModel):
    removed: str


class Untested(BaseModel):
    button_id: str
    site_id: str | None
    site_name: str | None
    label: str
    last_test_at: str | None
    """the latest test press (type `test`, or any press in test mode); null: never"""
    days_since: int | None


async def _run(ctx: Context, command: Command) -> Any:
    try:
        return await ctx.pipeline.execute(command)
    except RegistryNotFound as exc:
        raise refused(status.HTTP_404_NOT_FOUND, exc) from None
    except RegistryConflict as exc:
        raise refused(status.HTTP_409_CONFLICT, exc) from None
    except RegistryError as exc:
        raise unprocessable_error(exc, "body") from None


def _device(ctx: Context, button_id: str) -> DeviceView:
    view = device_view(ctx.pipeline.state, button_id)
    assert view is not None  # the command just committed it
    return view


@router.post(
    "/devices",
    response_model=DeviceView,
    status_code=status.HTTP_201_CREATED,
    summary="Add a button",
)
async def add_device(entry: ButtonEntry, ctx: Context, who: Admin) -> DeviceView:
    await _run(ctx, AddButton(entry, who.actor))
    return _device(ctx, entry.id)


@router.patch(
    "/devices/{button_id}",
    response_model=DeviceView,
    summary="Change a button",
    responses=responses(404, 409),
)
async def edit_device(button_id: str, body: ButtonChange, ctx: Context, who: Admin) -> DeviceView:
    changes = body.model_dump(include=body.model_fields_set)
    if "site" in changes:
        changes["site_id"] = changes.pop("site")
    if "press_patterns" in changes:
        changes["press_patterns"] = tuple(body.press_patterns.items())
    await _run(ctx, EditButton(button_id, changes, who.actor))
    return _device(ctx, button_id)


@router.delete("/devices/{button_id}", response_model=Removed, summary="Remove a button")
async def remove_device(button_id: str, ctx: Context, who: Admin) -> Removed:
    await _run(ctx, RemoveButton(button_id, who.actor))
    return Removed(removed=button_id)


@router.put(
    "/devices/{button_id}/test-mode", response_model=DeviceView, summary="Test mode of a button"
)
async def device_test_mode(
    button_id: str, body: TestModeBody, ctx: Context, who: Admin
) -> DeviceView:
    await _run(ctx, SetTestMode("button", button_id, body.test_mode, who.actor, body.duration_s))
    return _device(ctx, button_id)


@router.post(
    "/sites", response_model=SiteView, status_code=status.HTTP_201_CREATED, summary="Add a site"
)
async def add_site(entry: SiteEntry, ctx: Context, who: Admin) -> SiteView:
    site = await _run(ctx, AddSite(entry, who.actor))
    return site_views(ctx.pipeline.state.registry, [site])[0]


@router.patch(
    "/sites/{site_id}", response_model=SiteView, summary="Change a site", responses=responses(404)
)
async def edit_site(site_id: str, body: SiteChange, ctx: Context, who: Admin) -> SiteView:
    changes = body.model_dump(include=body.model_fields_set)
    site = await _run(ctx, EditSite(site_id, changes, who.actor))
    return site_views(ctx.pipeline.state.registry, [site])[0]


@router.delete("/sites/{site_id}", response_model=Removed, summary="Remove a site")
async def remove_site(site_id: str, ctx: Context, who: Admin) -> Removed:
    await _run(ctx, RemoveSite(site_id, who.actor))
    return Removed(removed=site_id)


@router.put("/sites/{site_id}/test-mode", response_model=SiteView, summary="Test mode of a site")
async def site_test_mode(site_id: str, body: TestModeBody, ctx: Context, who: Admin) -> SiteView:
    site = await _run(ctx, SetTestMode("site", site_id, body.test_mode, who.actor, body.duration_s))
    return site_views(ctx.pipeline.state.registry, [site])[0]


@router.get(
    "/registry.toml",
    response_class=PlainTextResponse,
    summary="The registry as a file, to keep or to edit and import again (admins)",
)
async def registry_toml(ctx: Context, _: Admin) -> PlainTextResponse:
    registry = ctx.pipeline.state.registry
    sites = sorted(registry.sites.values(), key=lambda site: site.id)
    buttons = sorted(registry.buttons.values(), key=lambda button: button.id)
    day = ctx.clock.now().strftime("%Y%m%d")
    return PlainTextResponse(
        to_toml(registry_file(sites, buttons)),
        media_type="application/toml; charset=utf-8",
        headers={"Content-Disposition": f'attachment; filename="chuong-registry-{day}.toml"'},
    )


IMPORT_PATH = "/api/v1/registry/import"
IMPORT_MAX_BYTES = 1024 * 1024
"""The largest registry file the page may send (thousands of buttons); the other routes keep
`http.max_body_kib` (hub/api/bodies.py)."""


class FieldChangeView(BaseModel):
    field: str
    before: Any
    after: Any


class ChangedView(BaseModel):
    id: str
    name: str
    """a site's name, a button's label"""
    fields: list[FieldChangeView]


class EntryView(BaseModel):
    id: str
    name: str


class TableDiff(BaseModel):
    added: list[EntryView]
    changed: list[ChangedView]
    removed: list[EntryView]
    kept: list[str]
    """ids not in the file, left as they are"""
    unchanged: int


class ImportView(BaseModel):
    applied: bool
    """false: a preview, nothing changed; true: the change is committed and audited"""
    fingerprint: str
    """the registry's, before the change: send it back as `expect` to apply this preview"""
    sites: TableDiff
    buttons: TableDiff


def _name(item: Site | Button) -> str:
    return item.name if isinstance(item, Site) else item.label


def _table(
    added: list[Any], changed: list[Changed], removed: list[Any], kept: list[str], same: list[str]
) -> TableDiff:
    return TableDiff(
        added=[EntryView(id=item.id, name=_name(item)) for item in added],
        changed=[
            ChangedView(
                id=c.id,
                name=c.name,
                fields=[
                    FieldChangeView(field=f.field, before=f.before, after=f.after) for f in c.fields
                ],
            )
            for c in changed
        ],
        removed=[EntryView(id=item.id, name=_name(item)) for item in removed],
        kept=kept,
        unchanged=len(same),
    )


def _import_view(r: Diff, applied: bool, before: str) -> ImportView:
    return ImportView(
        applied=applied,
        fingerprint=before,
        sites=_table(
            r.sites_added, r.sites_changed, r.sites_removed, r.sites_kept, r.sites_unchanged
        ),
        buttons=_table(
            r.buttons_added,
            r.buttons_changed,
            r.buttons_removed,
            r.buttons_kept,
            r.buttons_unchanged,
        ),
    )


@router.post(
    "/registry/import",
    response_model=ImportView,
    summary="Import the registry file: a preview of what it changes, then (apply) the change",
    responses=responses(409),
    openapi_extra={
        "requestBody": {
            "required": True,
            "description": "The registry file's TOML text (sent as text/plain or "
            "application/toml; UTF-8), at most 1 MiB.",
            "content": {"text/plain": {"schema": {"type": "string"}}},
        }
    },
)
async def import_registry_file(
    request: Request,
    ctx: Context,
    who: Admin,
    apply: Annotated[bool, Query(description="false: only say what would change")] = False,
    expect: Annotated[
        str | None,
        Query(max_length=64, description="with apply: the fingerprint of the preview"),
    ] = None,
    remove_missing: Annotated[
        bool, Query(description="also remove the sites and buttons the file does not have")
    ] = False,
) -> ImportView:
    raw = await request.body()
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError:
        raise unprocessable("the file is not UTF-8 text", "body", kind="registry_file") from None
    try:
        file = parse_registry_text(text, "registry file")
    except RegistryError as exc:
        raise unprocessable(str(exc), "body", kind="registry_file") from None
    before = fingerprint(ctx.pipeline.state.registry)
    if not apply:
        try:
            result = diff(ctx.pipeline.state.registry, file, remove_missing=remove_missing)
        except RegistryConflict as exc:
            raise refused(status.HTTP_409_CONFLICT, exc) from None
        except RegistryError as exc:
            raise unprocessable_error(exc, "body") from None
        return _import_view(result, False, before)
    if expect is None:
        raise unprocessable(
            "applying needs `expect`: the fingerprint of the preview the admin saw",
            "query",
            "expect",
            kind="missing",
        )
    result = await _run(ctx, ImportRegistry(file, remove_missing, expect, who.actor))
    return _import_view(result, True, expect)


@router.post(
    "/troubles/{trouble_id}/clear",
    response_model=TroubleView,
    summary="Clear a trouble by hand (a latched tamper, once the button is checked)",
)
async def clear_trouble(trouble_id: int, body: ClearBody, ctx: Context, who: Admin) -> TroubleView:
    trouble = await _run(ctx, ClearTroubleById(trouble_id, who.actor, body.note))
    assert trouble.state is TroubleState.CLEARED
    return TroubleView.of(trouble)


@router.get(
    "/reports/untested",
    response_model=list[Untested],
    summary="Buttons without a test press in the last N days (never tested first)",
)
async def untested(
    ctx: Context, _: Viewer, days: Annotated[int, Query(ge=1, le=3650)] = 30
) -> list[Untested]:
    now = ctx.clock.now()
    try:
        rows = await ctx.store.untested_buttons(untested_cutoff(now, days))
    except READ_ERRORS as exc:
        raise HTTPException(status.HTTP_503_SERVICE_UNAVAILABLE, f"store: {exc}") from None
    return [
        Untested(
            button_id=row.button_id,
            site_id=row.site_id,
            site_name=row.site_name,
            label=row.label,
            last_test_at=row.last_test_at,
            days_since=None
            if row.last_test_at is None
            else (now - parse_iso(row.last_test_at)).days,
        )
        for row in rows
    ]
