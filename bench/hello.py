"""The baseline: a bare FastAPI hello-world, served by the same uvicorn as the services."""

from fastapi import FastAPI

app = FastAPI()


@app.get("/hello")
async def hello() -> dict[str, str]:
    return {"hello": "world"}
