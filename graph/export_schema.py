"""Print the served schema as SDL: `python -m graph.export_schema > schema.graphql`."""

from graph.schema import schema


def sdl() -> str:
    return schema.as_str() + "\n"


if __name__ == "__main__":
    print(sdl(), end="")
