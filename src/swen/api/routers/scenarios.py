"""Placeholder until this resource's routes land."""

from __future__ import annotations

from fastapi import APIRouter

router = APIRouter()
