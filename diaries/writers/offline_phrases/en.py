"""English for the offline writer: the words that tell what a note is, and the phrases by tone.

`{x}` is the person's words, `{part}` the part of the day, `{label}` a section's label, `{q}`
notes quoted as written, `{weekday}` the entry's weekday.
"""

# --- reading a note: the first words tell a clause, a feeling, a to-do or a phrase ------------

PAST = frozenset(
    """went ran had ate drank met saw made took got did wrote read bought brought came caught
    felt found gave left lost paid put said sat slept spent stood swam taught thought told woke
    won began drove rode flew forgot heard held kept knew led let meant sent set sang sold spoke
    threw wore fed fell fought grew hid hit hurt became broke built burnt burned chose cut dealt
    dug drew dreamt dreamed forgave froze hung lay lit quit rang rose sank shook shot shut slid
    spun stole struck swept swung tore understood woke wound agreed freed
    finally also just""".split()
)

FINITE = PAST | frozenset(
    "was were is are has have am isn't wasn't weren't didn't couldn't won't can can't could "
    "will would should might must".split()
)

ED_NOT_VERBS = frozenset(
    """tired bored excited relaxed stressed worried interested married scared hundred naked
    sacred wicked beloved crooked ragged rugged wretched exhausted annoyed amazed surprised
    confused depressed pleased satisfied frustrated overwhelmed embarrassed disappointed
    motivated focused inspired delighted thrilled""".split()
)

FEELINGS = frozenset(
    """tired happy sad excited bored sleepy busy relaxed stressed anxious calm hungry sick
    exhausted nervous grateful thankful lonely productive lazy good great fine okay ok awesome
    content cheerful grumpy restless refreshed energetic worried glad proud overwhelmed
    frustrated motivated focused inspired""".split()
)

FEELING_LINKS = frozenset(
    "and but or after because from all so too very about with yet though since".split()
)

BASE_VERBS = frozenset(
    """go run eat have meet see make take get do write read buy visit watch play walk cook clean
    study call finish start try help drink sleep swim shop pick fix send pay email text book
    prepare practice practise work""".split()
)

SUBJECTS = frozenset(
    "i i'm i've i'd i'll we we're we've he she they you it it's there there's everyone "
    "everybody nobody somebody someone".split()
)

COMMON = frozenset(
    """a an the my our some any another more lots lot much many few long short quick big small
    little nice good great bad busy slow lazy early late lunch breakfast brunch dinner supper
    coffee tea work school class classes meeting meetings shopping groceries cleaning laundry
    homework nothing nobody everything errands chores yoga gym walk run jog ride drive trip
    visit call calls emails email movie movies music games game practice rain snow sun sunshine
    weather rest nap reading cooking writing studying gardening football soccer tennis""".split()
)

# Everyday nouns a note may start with: a capital letter on them is the note's, not a name's.
EVERYDAY = frozenset(
    """appointment dentist doctor haircut interview exam test lecture seminar workshop
    conference call party birthday wedding funeral concert show play match race game
    picnic barbecue bbq dinner date drinks pizza pasta sushi ramen curry soup salad cake
    bread cookies pancakes takeout beer wine tea coffee brunch lunch breakfast snack
    errand errands chores laundry dishes groceries shopping cleaning cooking baking
    gardening reading writing walking running cycling hiking swimming training workout
    gym yoga swim hike bike ride drive flight train bus commute trip visit holiday vacation
    movie film series episode book podcast museum gallery library park beach lake river
    mountain garden market mall office school class lesson homework project report
    deadline presentation review planning plan budget taxes paperwork emails call calls
    phone chat coffee nap rest sleep storm rain snow sunshine heat cold headache cold
    dog cat kids family friends neighbours neighbors team boss client clients colleague
    colleagues meeting meetings standup stand-up sync demo launch release deploy bug fix
    nothing everything something quiet busy slow long short quick big small late early
    lovely nice good great bad rough hard easy fun new old first last next whole
    another lots""".split()
)

# A note's head word ending like this is a mass noun or an activity: no article before it.
NO_ARTICLE = frozenset(
    """coffee tea lunch breakfast brunch dinner supper work school homework music rain snow
    sunshine weather rest sleep laundry groceries shopping cleaning cooking baking
    gardening reading writing walking running cycling hiking swimming training yoga
    football soccer tennis golf basketball baseball chess bread pasta sushi ramen curry
    soup salad cake pizza beer wine water takeout time fun news stuff traffic overtime
    paperwork planning budgeting nothing everything something anything nobody everyone
    chaos progress practice piano guitar art math physics history english japanese french
    french german family""".split()
)

# Words ending in -ing that count like any other noun ("a meeting").
COUNTABLE_ING = frozenset(
    "meeting wedding painting building evening morning feeling outing gathering screening "
    "tasting hearing briefing offering reading recording ceiling warning".split()
)

DETERMINERS = frozenset(
    """a an the my our your his her their its this that these those some any another more
    lots lot much many few several no every each all both one two three four five six seven
    eight nine ten half plenty most""".split()
)

# Past tense for a note written as a plain verb ("walk in the park" → "I walked in the park").
IRREGULAR_PAST = {
    "go": "went",
    "run": "ran",
    "eat": "ate",
    "have": "had",
    "meet": "met",
    "see": "saw",
    "make": "made",
    "take": "took",
    "get": "got",
    "do": "did",
    "write": "wrote",
    "read": "read",
    "buy": "bought",
    "drink": "drank",
    "sleep": "slept",
    "swim": "swam",
    "send": "sent",
    "pay": "paid",
    "work": "worked",
    "shop": "shopped",
}

# --- writing: phrases by tone ----------------------------------------------------------------

LABELS = {
    "plain": {
        "morning": ("This morning", "In the morning"),
        "afternoon": ("This afternoon", "In the afternoon"),
        "evening": ("This evening", "In the evening"),
    },
    "warm": {
        "morning": ("This morning", "Early in the day"),
        "afternoon": ("In the afternoon", "Later on"),
        "evening": ("In the evening", "This evening"),
    },
    "humorous": {
        "morning": ("First thing this morning", "This morning, bright and early-ish"),
        "afternoon": ("This afternoon", "Later that day"),
        "evening": ("This evening", "By the time the evening rolled around"),
    },
    "poetic": {
        "morning": ("In the soft light of the morning", "As the morning opened"),
        "afternoon": ("In the long hours of the afternoon", "When the afternoon settled in"),
        "evening": ("As the evening gathered", "When dusk came"),
    },
    "reflective": {
        "morning": ("This morning", "Early on"),
        "afternoon": ("In the afternoon", "Later in the day"),
        "evening": ("In the evening", "As the day wound down"),
    },
}

PHRASE_FIRST = ("The {part} began with {x}", "The {part} was for {x}", "The {part} brought {x}")

# The other notes, when they are all there is (nothing before them to add to).
NOTES_ALONE = {
    "i_clause": ("Today I {x}", "I {x} today"),
    "clause": ("{X}",),
    "feeling": ("Today I felt {x}", "I felt {x} today"),
    "todo": ("On my list today: {x}",),
    "phrase": ("Today brought {x}", "Today was about {x}"),
}

NOTES_FIRST = {
    "i_clause": ("I also {x}", "Besides that, I {x}"),
    "clause": ("Also, {x}", "Besides that, {x}"),
    "feeling": ("Overall, I felt {x}",),
    "todo": ("Still on my list: {x}",),
    "phrase": ("Also worth noting: {x}", "One more thing: {x}"),
}

NEXT = {
    "i_clause": ("Then I {x}", "After that, I {x}", "I also {x}"),
    "feeling": ("I felt {x}",),
    "todo": ("Also on the list: {x}",),
    "phrase": ("There was also {x}", "Then came {x}"),
}

FOREIGN_FIRST = ("{label}, as I noted it: “{q}”.",)

FOREIGN_NOTES = ("I also noted: “{q}”.", "In my notes: “{q}”.")

FOREIGN_NEXT = ("Or, as I jotted it down: “{q}”.", "In my notes: “{q}”.")

OPENINGS = {
    "plain": ("Today was a {weekday}.", "A short record of today.", "Here's how today went."),
    "warm": (
        "What a lovely {weekday} it turned out to be.",
        "Dear diary, today had some good moments in it.",
        "I want to remember today, so here it is.",
    ),
    "humorous": (
        "Another {weekday}, another episode of a life nobody asked to see.",
        "Dear diary, brace yourself.",
        "Today's report, filed by your favourite unreliable narrator.",
    ),
    "poetic": (
        "The {weekday} unfolded slowly, like a letter I was in no hurry to read.",
        "Some days arrive quietly and still leave something behind.",
        "The light moved across the day the way it always does, and I moved with it.",
    ),
    "reflective": (
        "Looking back on this {weekday}, I want to take stock of it honestly.",
        "Before the day slips away, I want to think it through.",
        "Today gave me a few things to think about.",
    ),
}

TRANSITIONS = {
    "plain": ("",),
    "warm": ("The day kept being kind to me.", ""),
    "humorous": (
        "Then, as is tradition, the day simply continued.",
        "Plot twist: there was more.",
        "",
    ),
    "poetic": ("The hours leaned toward the {part}.", ""),
    "reflective": ("As the day went on, my mind settled a little.", ""),
}

COMMENTS = {
    "plain": (
        "That was the {part}.",
        "Simple enough.",
        "Nothing else to add about the {part}.",
        "",
    ),
    "warm": (
        "It made me smile.",
        "I'm grateful for that.",
        "Little things like that matter to me.",
        "It felt good, honestly.",
    ),
    "humorous": (
        "Truly, a highlight of modern civilisation.",
        "Nobody was harmed, which I count as a win.",
        "I'd give it four stars, minus one for the lack of snacks.",
        "My future biographer will want to know.",
    ),
    "poetic": (
        "The {part} held it gently, the way water holds the sky.",
        "Somewhere in it, time slowed down.",
        "It left a soft mark on the day.",
        "I can still feel the shape of it.",
    ),
    "reflective": (
        "I wonder why that stays with me.",
        "Looking back, it mattered more than it seemed at the time.",
        "It reminded me what I actually care about.",
        "There's something to learn in that, I think.",
    ),
}

CLOSINGS = {
    "plain": ("That's all for today.", "That was the day.", "Tomorrow is another day."),
    "warm": (
        "All in all, a good day. I'm thankful for it.",
        "I'm going to bed with a full heart.",
        "Thank you, today. Sleep well, me.",
    ),
    "humorous": (
        "And that, dear diary, is all the drama I can handle in one day.",
        "Tune in tomorrow for more thrilling adventures.",
        "Signing off before anything else can happen.",
    ),
    "poetic": (
        "The day folds itself away now, and I let it go.",
        "Tomorrow waits on the other side of sleep.",
        "What remains is quiet, and the quiet is enough.",
    ),
    "reflective": (
        "I think today taught me to notice the small things.",
        "Tomorrow, I want to carry a little of today with me.",
        "It may not have been a big day, but it was mine, and that is worth writing down.",
    ),
}

QUIET = {
    "plain": "Nothing much happened today.",
    "warm": "It was a quiet day, and that was alright with me.",
    "humorous": "Nothing happened today. I checked twice.",
    "poetic": "The day passed like a cloud, without a sound.",
    "reflective": (
        "It was a quiet day with nothing in particular to note, and perhaps that is worth noting."
    ),
}

PARTS = {"morning": "morning", "afternoon": "afternoon", "evening": "evening"}

WEEKDAYS = ("Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday", "Sunday")
