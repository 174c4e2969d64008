"""The development tools' settings (`KHABAR_*` environment variables) besides `make run`'s."""

from pathlib import Path

from pydantic_settings import BaseSettings, SettingsConfigDict


class CorpusSettings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="KHABAR_", extra="ignore")

    # Where the full corpus is, when not beside the repository (../shared/corpus).
    corpus_dir: Path | None = None
