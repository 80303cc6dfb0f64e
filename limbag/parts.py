"""The book's parts, made in printed order: taken from the store when unchanged, otherwise laid
out by the lanes (this process, and the other layout processes when there is work for them).

A run of parts follows on: each part begins on a right-hand page, and its first folio is the
page after the last part's. That folio is known only once the parts before it are laid out,
but a part can be laid out before it is known (see typeset.Typesetter.write), so the lanes lay
parts out side by side on guessed folios and each part is written once its own is settled.
"""

from __future__ import annotations

import hashlib
import re
import socket
import threading
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from multiprocessing.connection import wait
from typing import Protocol

from .join import LaidPart
from .markup import FlowText
from .typeset import Answer, EngineSettings, Labels, Lane, LocalLane, PartJob, PartLayout, RemoteLane, SetupReport, WrittenPart

ELEMENT_ID = re.compile(r'\sid="([^"]+)"')
LINK_TARGET = re.compile(r'\shref="#([^"]+)"')

GUESSED_CHARACTERS_A_PAGE = 4000
"""A first guess of how much HTML fills a page, for a part no earlier build laid out."""

GUESSED_AHEAD = 2
"""Parts a lane may hold laid out on a guessed folio, waiting for the parts before them."""

OFFERED_IN_HAND = 3
"""Parts offered early that another process may have waiting, not yet laid out."""


class PartStore(Protocol):
    """Where written parts are kept between builds (see cache.PartCache), by `part_name`."""

    def get(self, name: str) -> LaidPart | None: ...

    def has(self, name: str) -> bool: ...

    def page_count(self, layout_key: str) -> int | None:
        """How many pages a kept part with this text has, whatever its folios."""
        ...

    def earlier_page_count(self, first_anchor: str) -> int | None:
        """How many pages the kept part that begins with this element has: an earlier version of
        a part whose text changed, whose page count is the best guess of the new one's."""
        ...

    def earlier_folio(self, anchor: str) -> int | None:
        """The folio of the page the element was printed on in the kept parts (the last build's):
        the best guess of a page reference's number before the layout."""
        ...

    def put(self, name: str, part: LaidPart) -> None: ...


def part_name(layout_key: str, first_folio: int | None, labels: Labels = ()) -> str:
    """A written part's name in the store: what it lays out, the folio it is numbered from, and the
    page labels put in when it was written (see PartRequest.labels)."""
    put_in = hashlib.sha256(repr(labels).encode()).hexdigest()[:32] if labels else ""
    return f"{layout_key}-{first_folio if first_folio is not None else 'x'}{put_in}"


@dataclass(frozen=True, slots=True)
class PartRequest:
    kind: str
    """What the part is ('chapter 3', 'index'), for the build's report."""
    html: str
    flows: Mapping[str, FlowText]
    holds: tuple[str, ...] = ()
    """What the build's report counts when the part is laid out: its kind, or the chapters it holds."""
    labels: Labels = ()
    """Page labels put in when the part is written (its HTML holds stand-ins, so that it can be
    laid out before they are known): not part of what it lays out."""
    unfilled: PartRequest | None = None
    """The same part with the labels in its HTML: laid out instead if the layout cannot take them
    in (see typeset.PartLayout.fillable)."""

    @property
    def reported(self) -> tuple[str, ...]:
        return self.holds or (self.kind,)


@dataclass(slots=True)
class _Entry:
    """A requested part on its way: placed (its first folio settled), laid out, written."""

    request: PartRequest
    layout_key: str
    borrowed: frozenset[str]
    expected_pages: int | None
    """The page count of the same text in the store, whatever its folio (or of its earlier version)."""
    placed: bool = False
    folio: int | None = None
    layout: PartLayout | None = None
    lane: Lane | None = None
    ticket: int | None = None
    job_folio: int | None = None
    """The first folio it is laid out on (guessed, or settled)."""
    write_asked: bool = False
    part: LaidPart | None = None
    away: bool = False
    """To be laid out by another process if there is one, so that this one can work meanwhile."""
    alone: bool = False
    """A large part sent away (the chronology): the process laying it out is given nothing after it."""

    @property
    def name(self) -> str:
        """Its name in the store, once placed (see part_name)."""
        return part_name(self.layout_key, self.folio, self.request.labels)


Run = list[_Entry]
"""A run of parts on its way (see PartMaker.send_run)."""


class PartMaker:
    """Makes runs of parts (`make_run`, `send_run`) and hands back the written parts in printed
    order (`written`)."""

    def __init__(self, settings: EngineSettings, store: PartStore | None, settings_key: str, blank_html: str,
                 others: Sequence[RemoteLane] = ()) -> None:
        for lane in others:
            lane.set_up(settings)  # in the other processes, while this one sets up too
        self.here = LocalLane(settings)
        """This process's engine."""
        self.others = tuple(others)
        self.lanes: list[Lane] = [self.here, *others]
        self.store = store
        self.blank_html = blank_html
        """An empty page in the book's language."""
        self.settings_key = settings_key
        self.printed: list[_Entry | LaidPart] = []
        self._placed_in_run: list[_Entry | None] = []
        """The numbered run being made, as far as its parts are placed (None for a blank page): they
        follow the printed parts, so each can be joined once written (see printed_part)."""
        self.laid_out: list[str] = []
        """What this build laid out (the request kinds), in printed order."""
        self.laid_out_elsewhere = 0
        self.taken_over = 0
        """Parts this process took over from another, which had not begun them (see _take_over)."""
        self.messages: list[str] = []
        self.refused: list[str] = []
        self._tickets: dict[int, _Entry] = {}
        self._last_ticket = 0
        self._given_up: set[int] = set()
        """Tickets of parts this process took over from another (see _take_over): their answers are ignored."""
        self._kept: dict[str, LaidPart] = {}
        """The parts written in this build, by part_name: a run made again (see forget_since) takes
        the unchanged ones from here, whether or not there is a store."""
        self._kept_pages: dict[str, int] = {}
        """Their page counts, by layout key."""
        self._blank: LaidPart | None = None
        self._early: dict[str, _Entry] = {}
        """Parts handed out by `offer` before their run was made, by layout key."""
        self._early_unnumbered: dict[str, _Entry] = {}
        """The same, by `offer_unnumbered`: kept until their run takes them up or they are withdrawn."""
        self._offered_folio = 1
        self.on_part: Callable[[str], None] | None = None
        """Told the kind of each part ('chapter 3', 'index') once it is laid out or taken from the store."""
        self.while_waiting: Callable[[], bool] | None = None
        """Work of this process's own to do while the others work (handing what is written to the
        joining process): does a piece of it and returns True, or returns False if there is none.
        It comes before this process's own layouts and writes too, as it takes little time here and
        lets the joining process work meanwhile."""

    def make_run(self, requests: Sequence[PartRequest], known_ids: frozenset[str],
                 first_folio: int | None = None, first_away: bool = False) -> list[PartLayout]:
        """Make parts that follow on, each beginning on a right-hand page (after a blank page when
        the last part ended on one); with `first_folio`, their pages are numbered on from it.
        Returns the layouts in printed order, blank pages included, as soon as all are known;
        the parts are written meanwhile and come back from `written`. With `first_away`, the first
        part is laid out by another process if there is one (a large part, whose memory is then
        not added to this process's)."""
        return self.run_layouts(self.start_run(requests, known_ids, first_folio, first_away), first_folio)

    def start_run(self, requests: Sequence[PartRequest], known_ids: frozenset[str],
                  first_folio: int | None = None, first_away: bool = False) -> Run:
        """make_run's first half: hand the parts out and return at once, so that more can be sent
        (send_run) before this process lays out its own; `run_layouts` waits for them."""
        return self._start_run(requests, known_ids, first_folio, away=False, first_away=first_away)

    def offer(self, request: PartRequest, outside_ids: frozenset[str], first: bool) -> bool:
        """Hand `request` to another process now, if one has room, while this one makes the requests
        that follow it (the run is made once all are ready, see make_run, which takes this one up).
        Only a part with new text is offered (the store may have the others), and only one whose
        links land in itself or in `outside_ids` (the ids no part of its run defines: its layout
        then does not depend on the parts not yet made). It is laid out on a guessed first folio,
        from 1 for the `first` part of a run. True if it was handed out."""
        self._take_sent_answers()
        if first:
            self._offered_folio = 1
        room = [lane for lane in self.lanes if not lane.here and lane.ready() and len(self._in_hand(lane)) < OFFERED_IN_HAND]
        if not room:
            return False
        targets = frozenset(LINK_TARGET.findall(request.html)) - _own_ids(request)
        if not targets <= outside_ids:
            return False
        entry = self._entry(request, targets)
        folio = self._offered_folio
        self._offered_folio += entry.expected_pages or max(1, len(request.html) // GUESSED_CHARACTERS_A_PAGE)
        self._offered_folio += self._offered_folio % 2 == 0
        if self._laid_out_before(entry.layout_key) or entry.layout_key in self._early:
            return False
        lane = min(room, key=lambda lane: len(self._in_hand(lane)))
        entry.folio = folio
        self._early[entry.layout_key] = entry
        self._lay_out(entry, lane, folio)
        return True

    def offer_unnumbered(self, request: PartRequest) -> None:
        """Hand an unnumbered part (the front matter) to another process now, if one has room and
        neither this build nor the store has it laid out: laid out as if every id it links to were
        defined. Its run (send_run) takes it up if that holds and it is the same part (`withdraw`
        otherwise)."""
        self._take_sent_answers()
        room = [lane for lane in self.lanes if not lane.here and lane.ready()]
        if not room:
            return
        entry = self._entry(request, frozenset(LINK_TARGET.findall(request.html)) - _own_ids(request))
        if self._laid_out_before(entry.layout_key) or entry.layout_key in self._early_unnumbered:
            return
        self._early_unnumbered[entry.layout_key] = entry
        self._lay_out(entry, min(room, key=lambda lane: len(self._in_hand(lane))), None)

    def _take_sent_answers(self) -> None:
        """Take the answers the other processes have sent, without waiting."""
        for lane in self.lanes:
            while not lane.here and lane.answered():
                self._take(lane)

    def _laid_out_before(self, layout_key: str) -> bool:
        """Whether this build or the store has a part with this text laid out, whatever its folio."""
        return layout_key in self._kept_pages or (self.store is not None and
                                                  self.store.page_count(layout_key) is not None)

    def withdraw(self, request: PartRequest) -> None:
        """Let go of a part handed out by `offer_unnumbered` that no run will take up."""
        for key, entry in list(self._early_unnumbered.items()):
            if entry.request.html == request.html:
                del self._early_unnumbered[key]
                self._let_go(entry)

    def _let_go(self, entry: _Entry) -> None:
        """Tell the process that has `entry` in hand to leave it, laid out or not."""
        lane, ticket = entry.lane, entry.ticket
        if lane is None or ticket is None:
            return
        del self._tickets[ticket]
        if lane.here:
            self.here.typesetter.forget(ticket)
        else:
            lane.give_up(ticket)
        if entry.layout is None:  # its answer is still to come
            self._given_up.add(ticket)

    def _in_hand(self, lane: Lane) -> list[_Entry]:
        return [entry for entry in self._tickets.values() if entry.lane is lane and entry.layout is None]

    def send_run(self, requests: Sequence[PartRequest], known_ids: frozenset[str]) -> Run:
        """Start making unnumbered parts in another process and return at once (`run_layouts`
        waits for them): this process joins what is written meanwhile."""
        return self._start_run(requests, known_ids, None, away=True)

    def run_layouts(self, entries: Run, first_folio: int | None = None) -> list[PartLayout]:
        """The layouts of a run (see make_run), once all are known; its parts join the printed ones."""
        while True:
            self._place(entries, first_folio)
            if all(entry.layout is not None for entry in entries):
                break
            self._dispatch(entries, first_folio)
            self._take_answers(entries, first_folio)
        layouts: list[PartLayout] = []
        number = first_folio or 1
        for entry in entries:
            if number % 2 == 0:
                blank = self._blank_part()
                self.printed.append(blank)
                layouts.append(PartLayout(blank.page_anchors, blank.continued))
                number += 1
            assert entry.layout is not None
            self.printed.append(entry)
            if entry.ticket is not None:
                self.laid_out.extend(entry.request.reported)
            layouts.append(entry.layout)
            number += len(entry.layout.page_anchors)
        self._placed_in_run.clear()
        return layouts

    def _start_run(self, requests: Sequence[PartRequest], known_ids: frozenset[str], first_folio: int | None,
                   away: bool, first_away: bool = False) -> Run:
        entries = [self._taken_up(self._entry(request, known_ids)) for request in requests]
        self._write_off_early()
        for number, entry in enumerate(entries):
            entry.alone = first_away and number == 0
            entry.away = away or entry.alone
        self._place(entries, first_folio)
        self._dispatch(entries, first_folio)
        return entries

    def _taken_up(self, entry: _Entry) -> _Entry:
        """The entry offered early for the same part, if there is one, now with `entry`'s request."""
        early = self._early.pop(entry.layout_key, None) or self._early_unnumbered.pop(entry.layout_key, None)
        if early is None:
            return entry
        early.request = entry.request
        self._check_fill(early)
        return early

    def _check_fill(self, entry: _Entry) -> bool:
        """A laid-out part with labels to put in, whose layout cannot take them in, is to be laid out
        with them (True)."""
        unfilled = entry.request.unfilled
        if not entry.request.labels or unfilled is None or entry.layout is None or entry.layout.fillable:
            return False
        self._let_go(entry)
        entry.request, entry.layout_key = unfilled, self._layout_key(unfilled, entry.borrowed)
        entry.layout, entry.lane, entry.ticket, entry.job_folio = None, None, None, None
        if entry.placed:
            self._take_from_store(entry)
        return True

    def _write_off_early(self) -> None:
        """Parts offered that no run took up (their run's ids turned out to differ): they are
        written on their guessed folios and kept for this build, which may yet ask for them."""
        for entry in self._early.values():
            entry.placed = True
            if entry.layout is not None:
                self._ask_write(entry)
        self._early.clear()

    def mark(self) -> int:
        """Where the parts printed so far end, for forget_since."""
        return len(self.printed)

    def forget_since(self, mark: int) -> None:
        """Take back the parts printed since `mark`, once written (they were made on page numbers
        that turned out wrong, see pdf.render_book); a run made again takes those that come out
        the same from what this build wrote."""
        self.written()
        del self.printed[mark:]

    def blank_page(self) -> PartLayout:
        """A blank page after the parts made so far (to end the front matter on a left-hand page)."""
        blank = self._blank_part()
        self.printed.append(blank)
        return PartLayout(blank.page_anchors, blank.continued)

    def close(self) -> None:
        """Let this process's engine go (see typeset.Typesetter.close); the other processes' are
        let go when they end."""
        self.here.close()

    def setup_report(self) -> SetupReport:
        """What the engine said while it was set up for the book (the stylesheets' warnings, files
        refused): this process's engine's, or another process's if this one laid nothing out."""
        report = self.here.setup_report()
        for lane in self.others:
            report = report or lane.setup_report()
        return report or self.here.typesetter.setup_report()  # none could: set up here to hear it

    def printed_part(self, index: int) -> LaidPart | None:
        """The `index`th part printed so far, if it is written; past the printed parts, those of the
        numbered run being made, placed and written (the folios of the parts before them are
        settled, so they are as they will be printed)."""
        item: _Entry | LaidPart | None
        if index < len(self.printed):
            item = self.printed[index]
        elif index - len(self.printed) < len(self._placed_in_run):
            item = self._placed_in_run[index - len(self.printed)]
            if item is None:
                return self._blank_part()
        else:
            return None
        return item if isinstance(item, LaidPart) else item.part

    def written(self) -> list[LaidPart]:
        """The parts printed so far, in printed order, once all of them are written."""
        while any(isinstance(item, _Entry) and item.part is None for item in self.printed):
            self._take_answers()
        parts = [self.printed_part(index) for index in range(len(self.printed))]
        return [part for part in parts if part is not None]

    def _entry(self, request: PartRequest, known_ids: frozenset[str]) -> _Entry:
        own = _own_ids(request)
        borrowed = frozenset(t for t in LINK_TARGET.findall(request.html) if t in known_ids and t not in own)
        layout_key = self._layout_key(request, borrowed)
        expected = self._kept_pages.get(layout_key)
        if expected is None and self.store is not None:
            expected = self.store.page_count(layout_key)
        first = ELEMENT_ID.search(request.html)
        if expected is None and self.store is not None and first is not None:
            expected = self.store.earlier_page_count(first.group(1))
        return _Entry(request, layout_key, borrowed, expected)

    def _layout_key(self, request: PartRequest, borrowed: frozenset[str]) -> str:
        """Everything the part's layout depends on, but its first folio."""
        marks = repr(sorted((owner, flow.marks, flow.word_starts) for owner, flow in request.flows.items()))
        return hashlib.sha256("\0".join((self.settings_key, *sorted(borrowed), marks, request.html)).encode()).hexdigest()

    def _place(self, entries: list[_Entry], first_folio: int | None) -> None:
        """Settle the first folio of each part whose predecessors are laid out; a settled part is
        taken from the store, or written if it is already laid out."""
        number = first_folio or 1
        for entry in entries:
            blank = number % 2 == 0
            if blank:
                number += 1  # a blank page goes before it
            if not entry.placed:
                entry.placed = True
                if first_folio is not None:
                    self._placed_in_run.extend([None, entry] if blank else [entry])
                entry.folio = number if first_folio is not None else None
                if entry.ticket is None:
                    self._take_from_store(entry)
                elif entry.layout is not None:
                    self._ask_write(entry)
            if entry.layout is None:
                return
            number += len(entry.layout.page_anchors)

    def _take_from_store(self, entry: _Entry) -> None:
        name = entry.name
        stored = self._kept.get(name)
        if stored is None and self.store is not None:
            stored = self.store.get(name)
        if stored is None:
            return
        entry.part = stored
        entry.layout = PartLayout(stored.page_anchors, stored.continued)
        self._report(entry)
        self.messages.extend(stored.messages)  # a kept part still reports its warnings
        self.refused.extend(stored.refused)

    def _guessed_folios(self, entries: list[_Entry], first_folio: int | None) -> list[int | None]:
        """Each part's first folio as the page counts known so far suggest: those laid out, those
        the store knows, and the others' guessed from their length."""
        if first_folio is None:
            return [None] * len(entries)
        known = [(len(e.request.html), len(e.layout.page_anchors)) for e in entries if e.layout is not None]
        pages_per_character = sum(p for _, p in known) / max(1, sum(c for c, _ in known)) if known else 0.0
        folios: list[int | None] = []
        number = first_folio
        for entry in entries:
            if number % 2 == 0:
                number += 1
            folios.append(number)
            if entry.layout is not None:
                number += len(entry.layout.page_anchors)
            else:
                number += entry.expected_pages or max(1, round(len(entry.request.html) * pages_per_character))
        return folios

    def _dispatch(self, entries: list[_Entry], first_folio: int | None, lanes: Sequence[Lane] | None = None) -> None:
        """Give each lane with room (of `lanes`, default all) a part to lay out: the first part not
        yet laid out whose folio is settled, or, on a guessed folio, one the store will not have."""
        guesses = self._guessed_folios(entries, first_folio)
        waiting = [(entry, entry.folio if entry.placed else guess) for entry, guess in zip(entries, guesses, strict=True)
                   if entry.ticket is None and entry.layout is None]
        waiting = [(entry, folio) for entry, folio in waiting if entry.placed or not self._has(entry.layout_key, folio)]
        # This process takes the first part, the one the others' folios wait for (its own work waits
        # until the second process has been given its part); the second process the next.
        given = True
        while waiting and given:  # until every lane has what it may hold
            given = False
            for lane in sorted(self.lanes if lanes is None else lanes, key=lambda lane: not lane.here):
                if waiting and self._may_take(lane, waiting[0][0]):
                    entry, folio = waiting.pop(0)
                    self._lay_out(entry, lane, folio)
                    given = True

    def _lay_out(self, entry: _Entry, lane: Lane, folio: int | None) -> None:
        """Ask `lane` to lay `entry` out on `folio`, under a ticket of its own."""
        self._last_ticket += 1
        ticket = self._last_ticket
        entry.lane, entry.ticket, entry.job_folio = lane, ticket, folio
        self._tickets[ticket] = entry
        lane.lay_out(ticket, PartJob(entry.request.html, dict(entry.request.flows), entry.borrowed, folio))

    def _may_take(self, lane: Lane, entry: _Entry) -> bool:
        """Whether `lane` is to lay `entry` out now."""
        if lane is self.here and not self.here.loaded():
            # This process has yet to load the engine (half a second). The others, started before,
            # are waited for while they set theirs up, and take the part unless each has one in
            # hand already: after an edit, they may lay out all there is.
            for other in self.others:
                other.setup_report()
            ready = [other for other in self.others if other.ready()]
            if ready and not all(self._in_hand(other) for other in ready):
                return False
        if not lane.ready():
            return False
        others = [other for other in self.lanes if not other.here and other.ready()]
        # A part meant for another process stays here only if this one has nothing queued and
        # every other has: it would wait there behind their writes while this one idled.
        if lane.here and entry.away and others and (lane.pending() or not all(o.pending() for o in others)):
            return False
        in_hand = self._in_hand(lane)
        # Another process keeps a second part in hand, to have it when it is done with the first;
        # but not behind a part sent away for its size (the chronology), which would hold it up.
        # While this process lays out such a part it hands out nothing, so the others take all
        # they may meanwhile.
        limit = 1 if lane.here else 2 if not any(e.alone for e in self._in_hand(self.here)) else None
        if (limit is not None and len(in_hand) >= limit) or any(e.alone for e in in_hand):
            return False
        # The front matter laid out ahead (on no folio) waits for the page numbers, not for a folio.
        held = sum(1 for e in self._tickets.values()
                   if e.lane is lane and e.layout is not None and not e.write_asked and e.job_folio is not None)
        return entry.placed or held < GUESSED_AHEAD

    def _has(self, layout_key: str, folio: int | None) -> bool:
        name = part_name(layout_key, folio)
        return name in self._kept or (self.store is not None and self.store.has(name))

    def _take_answers(self, run: list[_Entry] | None = None, first_folio: int | None = None) -> None:
        """Take the answers the other processes have sent; if there are none, do one piece of this
        process's own work (after what `while_waiting` offers, which is not to wait behind it), or
        else what `while_waiting` offers, or else take over a part of `run` that another process
        has not begun; only with nothing to do, wait."""
        away = [lane for lane in self.lanes if not lane.here and lane.answered()]
        here = [lane for lane in self.lanes if lane.here and lane.pending()]
        if here and not away:
            while self.while_waiting is not None and self.while_waiting():
                pass
        if away:
            for lane in away:
                self._take(lane)
            return
        if here:
            self._use(self.here, self._answer_here(run, first_folio))
            return
        if self.while_waiting is not None and self.while_waiting():
            return
        if run is not None and self._take_over(run):
            return
        self._take(next(lane for lane in self.lanes if lane.pending()))

    def _take_over(self, run: Sequence[_Entry]) -> bool:
        """Lay out here, with nothing else to do, the first part of `run` that another process has
        in hand but has not begun (it waits there behind other parts, or behind their writes,
        while the parts after it wait for its page count). Not a part sent away for its size."""
        if not self.here.loaded():
            return False
        for entry in run:
            lane, ticket = entry.lane, entry.ticket
            if (entry.layout is None and lane is not None and ticket is not None and not lane.here
                    and not entry.alone and lane.not_begun(ticket)):
                lane.give_up(ticket)
                self._given_up.add(ticket)
                del self._tickets[ticket]
                self._lay_out(entry, self.here, entry.job_folio)
                self.taken_over += 1
                return True
        return False

    def _answer_here(self, run: list[_Entry] | None, first_folio: int | None) -> Answer:
        """This process's next answer: it lays a part out or writes one, which takes up to 0.7 s
        (the first chapter of formulas). Meanwhile a thread of its own takes the other processes'
        answers as they come, settles the folios they give, and hands those processes their next
        parts: otherwise they would wait for this one to be done before being given more."""
        taken = self.here.next_request()
        if run is None or not any(lane.pending() for lane in self.others):
            return self.here.carry_out(taken)
        stop, stopped = socket.socketpair()
        failed: list[BaseException] = []

        def tend() -> None:
            try:
                while True:
                    busy = [lane.waitable() for lane in self.others if lane.pending()]
                    if stopped in wait([stopped, *busy]):
                        return
                    self._take_sent_answers()
                    self._place(run, first_folio)
                    self._dispatch(run, first_folio, self.others)
            except BaseException as error:  # noqa: BLE001 — raised again in this thread
                failed.append(error)

        tending = threading.Thread(target=tend, name="others' answers", daemon=True)
        tending.start()
        try:
            answer = self.here.carry_out(taken)
        finally:
            stop.send(b".")
            tending.join()
            stop.close()
            stopped.close()
        if failed:
            raise failed[0]
        return answer

    def _take(self, lane: Lane) -> None:
        self._use(lane, lane.answer())

    def _use(self, lane: Lane, answer: Answer) -> None:
        ticket, result = answer
        if ticket in self._given_up:  # taken over by this process: not laid out there, or let go of
            self._given_up.discard(ticket)
            return
        assert result is not None
        entry = self._tickets[ticket]
        if isinstance(result, PartLayout):
            entry.layout = result
            if self._check_fill(entry):
                return
            self._report(entry)
            self.laid_out_elsewhere += 0 if lane.here else 1
            if entry.placed:
                self._ask_write(entry)
        else:
            self._written(entry, result)

    def _report(self, entry: _Entry) -> None:
        if self.on_part is not None:
            for kind in entry.request.reported:
                self.on_part(kind)

    def _ask_write(self, entry: _Entry) -> None:
        assert entry.lane is not None and entry.ticket is not None
        entry.write_asked = True
        entry.lane.write(entry.ticket, entry.folio, entry.request.labels)

    def _written(self, entry: _Entry, written: WrittenPart) -> None:
        assert entry.layout is not None
        part = LaidPart(written.pdf, entry.layout.page_anchors, entry.layout.continued, entry.borrowed,
                        written.messages, written.refused)
        entry.part = part
        self.messages.extend(written.messages)
        self.refused.extend(written.refused)
        name = entry.name
        self._kept[name] = part
        self._kept_pages[entry.layout_key] = part.page_count
        if self.store is not None:
            self.store.put(name, part)

    def _blank_part(self) -> LaidPart:
        """The blank page that keeps parts on right-hand pages: one part, made once."""
        if self._blank is None:
            request = PartRequest("blank", self.blank_html, {})
            name = part_name(self._layout_key(request, frozenset()), None)
            self._blank = self.store.get(name) if self.store is not None else None
            if self._blank is None:
                ticket = -1
                layout = self.here.typesetter.lay_out(ticket, PartJob(self.blank_html, {}, frozenset(), None))
                written = self.here.typesetter.write(ticket, None)
                self._blank = LaidPart(written.pdf, layout.page_anchors, layout.continued, frozenset(),
                                       written.messages, written.refused)
                if self.store is not None:
                    self.store.put(name, self._blank)
        return self._blank


def _own_ids(request: PartRequest) -> set[str]:
    """The ids a part defines: its elements', and its marks'."""
    own = set(ELEMENT_ID.findall(request.html))
    return own | {mark for owner, flow in request.flows.items() if owner in own for mark, _ in flow.marks}


def chapter_ids(requests: Sequence[PartRequest]) -> frozenset[str]:
    """Every id the parts define, elements and marks: the targets one part may link to in another."""
    return frozenset({anchor for request in requests for anchor in ELEMENT_ID.findall(request.html)}
                     | {mark for request in requests for flow in request.flows.values() for mark, _ in flow.marks})

