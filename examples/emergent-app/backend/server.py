"""A gym's class board, shaped like an Emergent backend: FastAPI, every route under /api.

Emergent's template keeps its records in MongoDB (motor); this example keeps them in memory so
it runs anywhere, which is all ferry's deploy test needs.
"""
import os
import uuid
from datetime import datetime, timezone
from pathlib import Path
from typing import List

from dotenv import load_dotenv
from fastapi import APIRouter, FastAPI, HTTPException
from pydantic import BaseModel, Field
from starlette.middleware.cors import CORSMiddleware

ROOT_DIR = Path(__file__).parent
load_dotenv(ROOT_DIR / ".env")

app = FastAPI()
api_router = APIRouter(prefix="/api")

GYM_NAME = os.environ.get("GYM_NAME", "Riverside Gym")


class GymClass(BaseModel):
    id: str = Field(default_factory=lambda: str(uuid.uuid4()))
    title: str
    coach: str
    spots: int = 12
    created_at: datetime = Field(default_factory=lambda: datetime.now(timezone.utc))


class GymClassCreate(BaseModel):
    title: str
    coach: str
    spots: int = 12


CLASSES: List[GymClass] = [
    GymClass(title="Morning yoga", coach="Ana"),
    GymClass(title="Kettlebells", coach="Ben", spots=8),
]


@api_router.get("/")
async def root():
    return {"message": f"Hello from {GYM_NAME}", "pid": os.getpid()}


@api_router.get("/classes", response_model=List[GymClass])
async def list_classes():
    return CLASSES


@api_router.post("/classes", response_model=GymClass)
async def add_class(body: GymClassCreate):
    if not body.title.strip():
        raise HTTPException(status_code=422, detail="a class needs a title")
    created = GymClass(**body.model_dump())
    CLASSES.append(created)
    return created


app.include_router(api_router)

app.add_middleware(
    CORSMiddleware,
    allow_credentials=True,
    allow_origins=os.environ.get("CORS_ORIGINS", "*").split(","),
    allow_methods=["*"],
    allow_headers=["*"],
)
