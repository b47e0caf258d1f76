"""The action model: a base model with an action adapter (or a fully fine-tuned one) that turns
one step, and the previous step's observation, into one function call.

``ActionModel.load(ADAPTER)`` finds the adapter's base (its extended base, fingerprint checked),
reads the slot map and the domains the adapter recorded, and decodes under the call grammar by
default, so every call it returns is valid for its function's schema; a bad output is a
:class:`octo_mlx.functions.calls.CallProblem` in the result, never an exception.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from octo_mlx.action.constrain import DEFAULT_MAX_TOKENS, CallGrammar, DecodedCall, decode_calls
from octo_mlx.errors import OctoError
from octo_mlx.files import read_json_object
from octo_mlx.functions.contract import Domain, Function
from octo_mlx.generation import check_prompts, check_texts, encode_prompt, prompt_limit
from octo_mlx.syntax import DATES, LANGUAGES, TASK_FILE, SlotMap, action_messages


def read_task(folder: str | Path) -> dict:
    """What an action model's folder records: ``{"task": "action", "slots": {...}, "domains": [...]}``
    (an adapter's adapter_config.json, or a full model's octo-mlx-task.json).

    Raises:
        OctoError: the folder holds no action model.
    """
    folder = Path(folder)
    for name in ("adapter_config.json", TASK_FILE):
        if (folder / name).is_file():
            cfg = read_json_object(folder / name)
            if cfg.get("task") == "action":
                return cfg
    raise OctoError(
        "not an action model (no task 'action' in adapter_config.json or octo-mlx-task.json)", folder
    )


def dates_for(task: Mapping) -> str | None:
    """The today a model's steps are asked with: the simulated device's calendar for a model
    trained on annotated dates (its task record says :data:`octo_mlx.syntax.DATES`), else None
    (a model trained on steps as written is asked the same way)."""
    from octo_mlx.functions.simulator import TODAY

    return TODAY if task.get("dates") == DATES else None


def asked_as(task: Mapping) -> dict:
    """How a model's steps are written for it, as its task record says it was taught: the
    ActionModel settings ``today`` (:func:`dates_for`) and ``languages``."""
    return {"today": dates_for(task), "languages": task.get("languages") == LANGUAGES}


def _slots_and_domains(
    task: Mapping, where: str | Path, given: Iterable[Domain] | None = None
) -> tuple[SlotMap, list[Domain]]:
    """The slot map and the domains an action model's task record names: each from ``given``
    when there (a user's tool file or Python module, which the record knows by name only), else
    bundled.

    Raises:
        OctoError: a recorded domain that is neither given nor bundled, or a given domain with a
            function the model has no functional token for.
    """
    from octo_mlx.domains.catalog import BUNDLED_DOMAINS, load_domains

    slots = SlotMap.from_json({"slots": task.get("slots")}, str(where))
    names = task.get("domains") or None
    if names is None:
        return slots, load_domains(None)
    by_name = {d.name: d for d in given or ()}
    out = []
    for name in names:
        if name in by_name:
            domain = by_name[name]
            missing = [f.name for f in domain.functions if f.name not in slots]
            if missing:
                raise OctoError(
                    f"the action model has no functional token for {', '.join(missing[:3])} of domain "
                    f"{name!r}: it was trained on other functions",
                    where,
                )
            out.append(domain)
        elif name in BUNDLED_DOMAINS:
            out.extend(load_domains([name]))
        else:
            raise OctoError(
                f"the action model serves domain {name!r} from a tool file or module: give it with --domain",
                where,
            )
    return slots, out


@dataclass
class ActionModel:
    """A loaded action model.

    Args:
        model, tokenizer: the extended base with the action adapter applied.
        slots: which function each functional token stands for.
        domains: the domains it serves (the active ones by default).
        constrained: decode under the call grammar (the default); False decodes freely, masking
            only the table entries outside the active slots (to measure what the grammar buys).
        jump_forward: append the tokens the grammar forces without a decoding step each.
        max_tokens: most tokens per call.
        today: the ISO date calendar words in a step resolve against (octo_mlx.functions.dates),
            for a model trained so (:func:`dates_for`); None: steps as written.
        languages: write each language name's ISO code after it, for a model trained so
            (its task record says :data:`octo_mlx.syntax.LANGUAGES`).
        lookup: (constrained, jump-forward, greedy) draft tokens checked per forward pass by
            prompt lookup (:func:`octo_mlx.generation.lookup_draft`): the same call, sooner. 0: off
            (the agent turns it on: :func:`octo_mlx.agent.session.open_session`).
        path: the model folder the weights came from (an adapter's extended base, or the full
            model), for fingerprints; None when the caller built the model.
    """

    model: Any
    tokenizer: Any
    slots: SlotMap
    domains: list[Domain]
    constrained: bool = True
    jump_forward: bool = True
    max_tokens: int = DEFAULT_MAX_TOKENS
    today: str | None = None
    languages: bool = False
    lookup: int = 0
    path: Path | None = None
    _grammars: dict = field(default_factory=dict, repr=False)

    @classmethod
    def load(
        cls,
        folder: str | Path,
        model: str | Path | None = None,
        force: bool = False,
        fuse: bool = True,
        domains: Iterable[Domain] | None = None,
        **options,
    ) -> ActionModel:
        """An action adapter (on its base) or a fully fine-tuned action model folder.

        Args:
            folder: the adapter folder (`octo-mlx train` on an action dataset), or a full model.
            model: the base for an adapter (default: the one it names, fingerprint checked).
            force: use an adapter on a base other than its own (with a warning).
            fuse: fold the adapter into this copy of the weights (octo_mlx.adapters.fuse): a
                model that serves one adapter decodes at the base's speed (its LoRA layers run
                at the file rank, the number of trained rows, otherwise). A resident pool that
                switches adapters keeps them apart (:meth:`on_pool`). A quantized base is never
                folded (mlx-lm would re-quantize the whole matrix, not the adapter as trained).
            domains: the Domain objects of the domains it serves that are not bundled (a user's
                tool file): its record names them only.
            options: ActionModel settings (constrained, jump_forward, max_tokens, today, languages).
        """
        from octo_mlx.adapters.folder import load_with_adapter
        from octo_mlx.adapters.fuse import fuse_layers
        from octo_mlx.adapters.lora import is_quantized

        folder = Path(folder)
        task = read_task(folder)
        slots, served = _slots_and_domains(task, folder, domains)
        if (folder / "adapter_config.json").is_file():
            loaded, tokenizer, path = load_with_adapter(model, folder, force)
            if fuse and not is_quantized(loaded):
                fuse_layers(loaded)
        else:
            loaded, tokenizer, path = load_with_adapter(folder, None)
        for key, value in asked_as(task).items():
            options.setdefault(key, value)
        return cls(loaded, tokenizer, slots, served, path=Path(path) if path else None, **options)

    @classmethod
    def on_pool(cls, pool, name: str, domains: Iterable[Domain] | None = None, **options) -> ActionModel:
        """The action adapter resident in ``pool`` (:class:`octo_mlx.resident.AdapterPool`) under
        ``name``: it goes on the shared base whenever this model runs.

        Raises:
            OctoError: no such resident adapter, or not an action adapter.
        """

        view = pool.view(name)
        info = pool.adapters[name]
        if info.config.get("task") != "action":
            raise OctoError(f"resident adapter {name!r} is not an action model", info.path)
        slots, served = _slots_and_domains(info.config, info.path, domains)
        for key, value in asked_as(info.config).items():
            options.setdefault(key, value)
        return cls(view, pool.tokenizer, slots, served, path=pool.folder, **options)

    def functions(
        self, active: Iterable[str] | None = None, only: Iterable[str] | None = None
    ) -> list[Function]:
        """The functions of the active domains (default: every domain the model serves); ``only``:
        just these function names among them (e.g. the tools a request offers)."""
        names = set(active) if active is not None else None
        if names is not None and not names <= {d.name for d in self.domains}:
            unknown = sorted(names - {d.name for d in self.domains})
            raise OctoError(f"the action model does not serve domain(s) {unknown}")
        keep = set(only) if only is not None else None
        return [
            f
            for d in self.domains
            if names is None or d.name in names
            for f in d
            if keep is None or f.name in keep
        ]

    def prompts(
        self, steps: Sequence[tuple[str, Mapping | None]], errors: Sequence[str | None] | None = None
    ) -> list[list[int]]:
        """Token ids of each (step, observation) request, all checked against the context first;
        ``errors``: per step, why its previous call was refused (a retry), or None."""
        limit = prompt_limit(self.model, self.tokenizer, self.max_tokens)
        labels = [f"step {i + 1}" for i in range(len(steps))]
        check_texts([s for s, _ in steps], limit, labels)
        errors = list(errors) if errors is not None else [None] * len(steps)
        prompts = [
            encode_prompt(self.tokenizer, action_messages(s, o, e, self.today, self.languages))
            for (s, o), e in zip(steps, errors)
        ]
        check_prompts(prompts, limit, labels)
        return prompts

    def act(
        self,
        step: str,
        observation: Mapping | None = None,
        active: Iterable[str] | None = None,
        error: str | None = None,
    ) -> DecodedCall:
        """The call for one step (batch 1); ``error``: why the previous call for this step was
        refused, for a retry (:data:`octo_mlx.syntax.RETRY_NOTE`)."""
        return self.act_many([(step, observation)], active, errors=[error])[0]

    def act_many(
        self,
        steps: Sequence[tuple[str, Mapping | None]],
        active: Iterable[str] | None = None,
        batch_size: int = 8,
        only: Iterable[str] | None = None,
        errors: Sequence[str | None] | None = None,
    ) -> list[DecodedCall]:
        """One call per (step, observation), in order; with the grammar and jump-forward decoding,
        one at a time (batch 1, the latency that counts), else batched.

        Args:
            steps: (step text, the previous call's observation or None) pairs.
            active: the domains whose functions may be called (default: all it serves).
            batch_size: sequences decoded together when not jump-forward.
            only: just these functions of the active domains may be called (the grammar is
                built for them; "no function" stays possible).
            errors: per step, why its previous call was refused (a retry), or None.

        Raises:
            OctoError: ``only`` leaves no function to call, or a prompt does not fit.
        """
        functions = self.functions(active, only)
        if only is not None and not functions:
            raise OctoError(f"none of the functions {sorted(only)} is one the action model serves")
        key = tuple(sorted(f.name for f in functions))
        if self.constrained and key not in self._grammars:
            self._grammars[key] = CallGrammar(self.tokenizer, self.slots, functions)
        return decode_calls(
            self.model,
            self.tokenizer,
            self.prompts(steps, errors),
            self.slots,
            functions,
            constrained=self.constrained,
            jump_forward=self.jump_forward,
            max_tokens=self.max_tokens,
            batch_size=batch_size,
            grammar=self._grammars.get(key),
            lookup=self.lookup,
        )
