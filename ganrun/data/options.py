"""How a user names a data set in messages: the config option they type (dataset=folder), not the loader's module
path (ganrun.data.image_folder)."""

PACKAGE = "ganrun.data."
OPTIONS = {"image_folder": "folder"}  # loaders whose option has another name (dataset=anime_faces is a folder too)


def dataset_option(dataset_cfg) -> str:
    """`dataset=<option>` of a data set's config, or `dataset._target_=<target>` for a loader of one's own."""
    target = str(dataset_cfg.get("_target_", ""))
    if not target.startswith(PACKAGE):
        return f"dataset._target_={target}"
    loader = target.removeprefix(PACKAGE)
    return f"dataset={OPTIONS.get(loader, loader)}"
