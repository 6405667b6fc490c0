"""The base class of the pieces a `ChainedStep` is built from, and the
resolver of names and configs shared by step rules and their pieces."""

import keras


class StepComponent:
    """A small, stateless, serialisable piece of a step rule.

    A `ChainedStep` is built from three of them: a `Parametrization` (which
    coordinates the state holds), a `Direction` (how a step is formed from
    the gradient in those coordinates) and a `Projection` (where the new
    point is put back). Components compare equal when they are of the same
    class with the same config.
    """

    def get_config(self):
        return {}

    @classmethod
    def from_config(cls, config):
        return cls(**config)

    def __eq__(self, other):
        return type(self) is type(other) and (
            self.get_config() == other.get_config()
        )

    def __hash__(self):
        return hash((type(self), tuple(sorted(self.get_config().items()))))

    def __repr__(self):
        args = ", ".join(f"{k}={v!r}" for k, v in self.get_config().items())
        return f"{self.__class__.__name__}({args})"


def resolve_component(identifier, kind, base, names):
    """An instance of `base` from an instance, a name in `names` or a
    serialised dict; a ValueError naming `kind` and the known names
    otherwise. Step rules and their components resolve through it."""
    if isinstance(identifier, base):
        return identifier
    if isinstance(identifier, str):
        if identifier not in names:
            raise ValueError(
                f"Unknown {kind} {identifier!r}; known {kind}s: "
                f"{sorted(names)}."
            )
        return names[identifier]()
    if isinstance(identifier, dict):
        component = keras.saving.deserialize_keras_object(identifier)
        if isinstance(component, base):
            return component
    raise ValueError(
        f"Cannot interpret {identifier!r} as a {kind}; pass a "
        f"{base.__name__}, one of {sorted(names)} or a serialised {kind}."
    )
