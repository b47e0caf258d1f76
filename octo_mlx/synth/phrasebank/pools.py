"""Slot-value pools for the offline synthesizer: people, places, products, titles, topics.

Pools are large on purpose: with ~100 values per slot and 2-5 slots per step, two generated
queries of the same phrasing rarely coincide, so train and test share few exact strings.
Values are plain realistic strings; generated values (times, dates, phone numbers, ids)
live in slots.py.
"""

from __future__ import annotations

from octo_mlx.functions.languages import CODES

# Data tables: a wrapped block per pool reads better than one value per line.
# fmt: off
FIRST_NAMES = (
    "Alex", "Sarah", "James", "Priya", "Mohammed", "Emma", "Liam", "Olivia", "Noah", "Sofia", "Lucas", "Mia",
    "Ethan", "Aisha", "Daniel", "Chloe", "Mateo", "Hannah", "Wei", "Yuki", "Carlos", "Fatima", "David",
    "Grace", "Omar", "Isabella", "Ben", "Lena", "Ravi", "Zoe", "Tom", "Nina", "Jake", "Maya", "Leo", "Ava",
    "Hiro", "Elena", "Sam", "Julia", "Kevin", "Rachel", "Marcus", "Ines", "Chris", "Amara", "Pedro", "Lily",
    "Ahmed", "Kate", "Jonas", "Mei", "Tyler", "Anya", "Diego", "Ruth", "Felix", "Jasmine", "Ivan", "Claire",
    "Tariq", "Megan", "Arjun", "Bianca", "Owen", "Nadia", "Victor", "Paula", "Sean", "Keiko", "Andre",
    "Laura", "Raj", "Helen", "Mark", "Ingrid", "Kofi", "Sienna", "Paul", "Lucia",
)
LAST_NAMES = (
    "Chen", "Smith", "Patel", "Garcia", "Kim", "Nguyen", "Mueller", "Rossi", "Okafor", "Silva", "Johnson",
    "Tanaka", "Kowalski", "Brown", "Haddad", "Lopez", "Wilson", "Ivanova", "Dubois", "Singh", "Martin",
    "Andersen", "Costa", "Murphy", "Cohen", "Yamamoto", "Fischer", "Ali", "Walker", "Moreau", "Park",
    "Hughes", "Novak", "Rivera", "Schmidt", "Khan", "Bianchi", "Evans", "Sato", "Larsen",
)
RELATIONS = (
    "Mom", "Dad", "Grandma", "Grandpa", "my sister", "my brother", "my wife", "my husband", "my boss",
    "my landlord", "my roommate", "my dentist", "my coach", "Aunt Jo", "Uncle Ray",
)
EMAIL_DOMAINS = ("gmail.com", "outlook.com", "yahoo.com", "icloud.com", "proton.me", "work.com", "acme.io")
CITIES = (
    "Paris", "London", "New York", "Tokyo", "Berlin", "Madrid", "Rome", "Lisbon", "Amsterdam", "Vienna",
    "Prague", "Dublin", "Seattle", "San Francisco", "Chicago", "Boston", "Austin", "Denver", "Miami",
    "Toronto", "Vancouver", "Montreal", "Mexico City", "Buenos Aires", "São Paulo", "Lima", "Bogotá",
    "Sydney", "Melbourne", "Auckland", "Singapore", "Hong Kong", "Seoul", "Bangkok", "Mumbai", "Delhi",
    "Bangalore", "Dubai", "Istanbul", "Athens", "Cairo", "Nairobi", "Cape Town", "Lagos", "Stockholm", "Oslo",
    "Copenhagen", "Helsinki", "Zurich", "Munich", "Barcelona", "Edinburgh", "Manchester", "Brussels",
    "Warsaw", "Budapest", "Kyoto", "Osaka", "Taipei", "Manila", "Hanoi", "Jakarta", "Kuala Lumpur", "Phoenix",
    "Portland", "Atlanta", "Nashville", "Las Vegas", "San Diego", "Honolulu", "Reykjavik", "Marrakech",
    "Tel Aviv", "Doha", "Santiago", "Havana", "Quebec City", "Florence", "Venice", "Nice",
)
PLACES = (
    "home", "work", "the office", "the airport", "the train station", "Central Park", "the gym",
    "the city library", "Union Station", "the Golden Gate Bridge", "the Louvre", "Times Square",
    "the nearest hospital", "the mall", "Stanford University", "the stadium", "the beach",
    "Fisherman's Wharf", "the Eiffel Tower", "Hyde Park", "the farmers market", "my parents' house",
    "the downtown bus terminal", "the convention center", "the zoo", "Pike Place Market",
    "the science museum", "the dentist", "the school", "the harbor", "Chinatown", "the old town",
    "the ski resort", "the Brooklyn Bridge", "the botanical garden", "the concert hall", "the pharmacy",
    "the post office", "the bakery on Main Street", "the ferry terminal", "the hotel", "the soccer field",
    "the community center", "the art gallery", "the vet", "the climbing gym", "the university campus",
    "the city hall", "the aquarium", "the hardware store", "my sister's place",
)
STREETS = (
    "Main Street", "Oak Avenue", "Baker Street", "Elm Road", "Market Street", "Park Lane", "Maple Drive",
    "Sunset Boulevard", "Church Street", "High Street", "River Road", "Broadway", "Pine Street", "Hill Road",
)
NEWS_TOPICS = (
    "Jensen Huang", "Nvidia", "Tesla", "climate change", "the Olympics", "electric cars", "Apple",
    "artificial intelligence", "the stock market", "SpaceX", "the World Cup", "inflation", "Bitcoin",
    "the Federal Reserve", "renewable energy", "the NBA playoffs", "Taylor Swift", "quantum computing",
    "the housing market", "Formula 1", "the Mars rover", "cybersecurity", "OpenAI", "Microsoft",
    "the European Union", "wildfires", "interest rates", "the Premier League", "vaccines", "Elon Musk",
    "the Oscars", "Wimbledon", "semiconductors", "the James Webb telescope", "oil prices", "Amazon",
    "the G20 summit", "video games", "Netflix", "electric scooters", "self-driving cars",
    "the Tour de France", "cryptocurrency regulation", "the job market", "Samsung", "the Champions League",
    "hurricane season", "Lionel Messi", "solar power", "the Nobel Prize", "remote work", "Google",
    "the Grammys", "space tourism", "heat waves", "the Super Bowl", "startup funding", "5G networks", "Meta",
    "robotics",
)
# (language name, ISO 639-1 code): twenty of the one table the action model's steps use
LANGUAGES = tuple(
    (name, CODES[name])
    for name in (
        "English", "Spanish", "French", "German", "Italian", "Portuguese", "Japanese", "Chinese", "Korean",
        "Arabic", "Russian", "Hindi", "Dutch", "Swedish", "Turkish", "Polish", "Greek", "Vietnamese",
        "Indonesian", "Hebrew",
    )
)
VIDEO_QUERIES = (
    "how to make sourdough bread", "beginner yoga routine", "lo-fi study music", "SpaceX launch highlights",
    "how to tie a tie", "Python tutorial for beginners", "cat videos", "guitar lessons for beginners",
    "Champions League highlights", "easy chicken curry recipe", "home workout without equipment",
    "how to change a flat tire", "Taylor Swift live", "iPhone camera tips", "history of Rome documentary",
    "chess openings explained", "watercolor painting tutorial", "Minecraft building ideas",
    "TED talk on happiness", "meditation for sleep", "how to fold a fitted sheet", "best hikes in Colorado",
    "piano covers of pop songs", "car detailing tips", "learn Spanish in 10 minutes", "NBA top 10 plays",
    "DIY bookshelf", "solar eclipse timelapse", "Japanese street food", "how to solve a Rubik's cube",
    "drum solo", "photoshop basics", "vegan meal prep", "jazz for studying", "stand-up comedy clips",
    "F1 race highlights", "how black holes work", "makeup tutorial", "dog training tips", "origami crane",
    "Excel pivot tables", "skateboarding tricks", "knitting for beginners", "bread without yeast",
    "marathon training tips", "Lego Star Wars builds", "how to brew pour-over coffee", "ocean documentary",
    "magic tricks revealed",
)
TEXT_MESSAGES = (
    "I'm running 10 minutes late", "can you pick up milk on the way home", "happy birthday!",
    "the meeting moved to 3 pm", "I landed safely", "dinner is ready", "call me when you can",
    "don't forget the tickets", "I'll be there in 20 minutes", "thanks for yesterday",
    "are we still on for lunch?", "the package arrived", "I left my keys at your place",
    "good luck on your exam", "the game starts at 8", "can you feed the cat tonight", "I'm stuck in traffic",
    "see you at the station", "let's reschedule to Friday", "I got the job!",
    "bring an umbrella, it's pouring", "the kids are asleep", "I'm outside", "please send me the address",
    "congrats on the promotion", "running to the store, need anything?", "the car is fixed",
    "I'll call you after the movie", "movie night at my place?", "on my way", "the rent is paid",
    "I booked the restaurant for 7", "don't wait up for me", "miss you already",
    "can you lend me your charger", "the flight is delayed an hour", "practice is canceled today",
    "remember to water the plants", "I'm at the front desk", "let me know when you're free",
)
# (subject, body) pairs so a generated email stays coherent.
EMAILS = (
    ("Meeting notes", "here are the notes from today's meeting"),
    ("Project update", "the prototype is ready for review"),
    ("Invoice", "please find the invoice for March attached"),
    ("Weekend plans", "are you free for a hike on Saturday?"),
    ("Vacation request", "I'd like to take next Friday off"),
    ("Quarterly report", "the Q3 numbers are in the shared folder"),
    ("Dinner reservation", "I booked a table for four at 7 pm"),
    ("Thank you", "thanks again for your help with the move"),
    ("Interview schedule", "the interview is confirmed for Tuesday at 10"),
    ("Rent reminder", "the rent is due on the first"),
    ("Birthday party", "you're invited to my birthday party on Sunday"),
    ("Budget review", "can we go over the budget tomorrow?"),
    ("Flight details", "my flight lands at 6:40 pm"), ("Lunch", "want to grab lunch on Thursday?"),
    ("Book club", "this month's book is The Midnight Library"),
    ("Running late", "I'll join the call 15 minutes late"),
    ("Photos from the trip", "here are the photos from our trip"),
    ("Contract draft", "the contract draft is ready for your comments"),
    ("School pickup", "can you pick up the kids on Wednesday?"),
    ("Team offsite", "the offsite is planned for May 12"),
    ("Job application", "I'm applying for the data analyst position"),
    ("Recipe", "here's the lasagna recipe you asked for"),
    ("Server outage", "the server was down from 2 to 3 am"),
    ("Welcome aboard", "welcome to the team, glad to have you"),
    ("Doctor's appointment", "I have to move my appointment to next week"),
    ("Garden party", "the garden party starts at noon"),
    ("Car repair", "the mechanic says the car will be ready Friday"),
    ("Study group", "study group meets in the library at 5"),
    ("Concert tickets", "I got us two tickets for the concert"),
    ("Feedback", "I loved your presentation, great work"),
)
EVENT_TITLES = (
    "Team standup", "Dentist appointment", "Lunch with Sarah", "Project review", "Yoga class",
    "Parent-teacher meeting", "Flight to Berlin", "Book club", "Doctor's appointment", "Quarterly planning",
    "Birthday dinner", "Job interview", "Gym session", "Piano lesson", "Coffee with Alex", "Budget meeting",
    "Haircut", "Soccer practice", "Product launch", "Client call", "Date night", "Car service",
    "Team offsite", "Study group", "Guitar lesson", "1:1 with my manager", "Vet appointment", "Code review",
    "Movie night", "Farmers market", "Board meeting", "Wedding rehearsal", "Tax consultation",
    "Language exchange", "Hackathon kickoff", "Volunteer shift", "Sprint planning",
)
ALARM_LABELS = (
    "Wake up", "Gym", "Take medicine", "Meeting", "Pick up kids", "Laundry", "Pizza in the oven", "Call Mom",
    "Leave for the airport", "Water the plants", "Stand up and stretch", "Bedtime", "Morning run",
    "Catch the train", "Tea is ready", "Feed the dog", "Pasta", "Study break", "Check the oven",
    "Walk the dog", "Lunch", "Start work", "Yoga", "Meditation", "Nap", "Take out the trash", "Bus leaves",
    "Soccer practice", "Podcast recording", "Bake cookies",
)
PRODUCT_QUERIES = (
    "ergonomic office chair", "wireless earbuds", "running shoes", "standing desk", "coffee grinder",
    "yoga mat", "mechanical keyboard", "4K monitor", "air fryer", "noise-cancelling headphones",
    "robot vacuum", "electric toothbrush", "hiking backpack", "smart watch", "USB-C charger",
    "cast iron skillet", "winter jacket", "phone case", "desk lamp", "water bottle", "gaming mouse",
    "blender", "espresso machine", "bluetooth speaker", "laptop stand", "throw pillows", "board games",
    "kids' bike", "sunglasses", "protein powder", "dog bed", "plant pots", "electric kettle", "wool socks",
    "camping tent", "resistance bands", "portable charger", "webcam", "dash cam", "memory foam pillow",
    "baby monitor", "printer ink", "rain boots", "travel adapter", "chef's knife", "stainless steel pans",
    "LED strip lights", "e-reader", "tripod", "office headset",
)
RETURN_REASONS = (
    "it arrived damaged", "it's the wrong size", "it doesn't fit", "I changed my mind", "it stopped working",
    "it's the wrong color", "it's defective", "I found a better price", "it arrived too late",
    "it's not as described", "I ordered two by mistake", "it's missing parts",
)
COUPON_WORDS = ("SAVE", "WELCOME", "SPRING", "SUMMER", "FALL", "WINTER", "VIP", "FREESHIP", "DEAL", "EXTRA")
TITLES = (
    "Breaking Bad", "Stranger Things", "The Crown", "Inception", "The Office", "Interstellar",
    "The Mandalorian", "Planet Earth II", "Succession", "Dune", "The Bear", "Oppenheimer", "Friends",
    "The Last of Us", "Squid Game", "Arrival", "Parasite", "The Matrix", "Ted Lasso", "Wednesday",
    "Blade Runner 2049", "Spirited Away", "Game of Thrones", "Barbie", "Dark", "The Godfather",
    "Black Mirror", "Everything Everywhere All at Once", "Severance", "Coco", "The Witcher",
    "Mad Max: Fury Road", "Brooklyn Nine-Nine", "La La Land", "Chernobyl", "Top Gun: Maverick", "The Boys",
    "Toy Story", "Fleabag", "Money Heist", "Shōgun", "Her", "The Grand Budapest Hotel", "Sherlock", "Ozark",
    "Inside Out", "Better Call Saul", "Avatar", "Bridgerton", "The Social Network", "Arcane", "Gravity",
    "The Good Place", "Jurassic Park", "Peaky Blinders", "Whiplash", "Narcos", "Up", "Mindhunter",
    "Gladiator", "Fargo", "Moana", "True Detective", "The Truman Show", "Yellowstone", "Knives Out",
    "Normal People", "Frozen",
)
# (IATA code, city)
AIRPORTS = (
    ("SFO", "San Francisco"), ("JFK", "New York"), ("LAX", "Los Angeles"), ("ORD", "Chicago"),
    ("SEA", "Seattle"), ("BOS", "Boston"), ("ATL", "Atlanta"), ("DEN", "Denver"), ("MIA", "Miami"),
    ("AUS", "Austin"), ("LHR", "London"), ("CDG", "Paris"), ("FRA", "Frankfurt"), ("AMS", "Amsterdam"),
    ("MAD", "Madrid"), ("BCN", "Barcelona"), ("FCO", "Rome"), ("MUC", "Munich"), ("ZRH", "Zurich"),
    ("DUB", "Dublin"), ("LIS", "Lisbon"), ("CPH", "Copenhagen"), ("IST", "Istanbul"), ("DXB", "Dubai"),
    ("DOH", "Doha"), ("SIN", "Singapore"), ("HND", "Tokyo"), ("ICN", "Seoul"), ("HKG", "Hong Kong"),
    ("BKK", "Bangkok"), ("DEL", "Delhi"), ("BOM", "Mumbai"), ("SYD", "Sydney"), ("MEL", "Melbourne"),
    ("AKL", "Auckland"), ("YYZ", "Toronto"), ("YVR", "Vancouver"), ("MEX", "Mexico City"),
    ("GRU", "São Paulo"), ("EZE", "Buenos Aires"), ("JNB", "Johannesburg"), ("CAI", "Cairo"),
    ("NBO", "Nairobi"), ("ATH", "Athens"), ("VIE", "Vienna"), ("PRG", "Prague"), ("OSL", "Oslo"),
    ("ARN", "Stockholm"), ("HEL", "Helsinki"), ("KEF", "Reykjavik"), ("LAS", "Las Vegas"),
    ("HNL", "Honolulu"),
)
AIRLINE_CODES = ("UA", "AA", "DL", "BA", "LH", "AF", "KL", "EK", "QR", "SQ", "NH", "AC", "IB", "TK", "QF")
# (ISO 4217 code, name)
CURRENCIES = (
    ("USD", "US dollars"), ("EUR", "euros"), ("GBP", "British pounds"), ("JPY", "Japanese yen"),
    ("CHF", "Swiss francs"), ("CAD", "Canadian dollars"), ("AUD", "Australian dollars"),
    ("CNY", "Chinese yuan"), ("INR", "Indian rupees"), ("MXN", "Mexican pesos"), ("BRL", "Brazilian reais"),
    ("KRW", "South Korean won"), ("SEK", "Swedish kronor"), ("NOK", "Norwegian kroner"),
    ("DKK", "Danish kroner"), ("THB", "Thai baht"), ("SGD", "Singapore dollars"),
    ("HKD", "Hong Kong dollars"), ("NZD", "New Zealand dollars"), ("ZAR", "South African rand"),
    ("TRY", "Turkish lira"), ("AED", "UAE dirhams"), ("PLN", "Polish zloty"),
)
COUNTRIES = (
    "Japan", "Italy", "Mexico", "Thailand", "Egypt", "Kenya", "Peru", "Brazil", "Morocco", "Turkey", "India",
    "Vietnam", "Indonesia", "Colombia", "Greece", "Portugal", "Iceland", "South Africa", "Argentina", "Chile",
    "Philippines", "Jordan", "Nepal", "Sri Lanka", "Croatia", "Cuba", "Tanzania", "Israel", "Costa Rica",
    "Cambodia", "Ukraine", "Nigeria", "Ecuador", "Bolivia", "Malaysia", "Pakistan", "Lebanon", "Haiti",
    "Mongolia", "Georgia", "Ethiopia", "Bali", "Fiji", "Madagascar", "Norway", "Spain",
)
MUSIC = (
    "Bohemian Rhapsody", "Morning Jazz", "lo-fi beats", "Discover Weekly", "Beethoven's Ninth",
    "Taylor Swift's 1989", "Daft Punk", "chill acoustic", "Kind of Blue", "rainy day jazz", "Adele",
    "classic rock hits", "the Hamilton soundtrack", "Bad Bunny", "workout mix", "Norah Jones",
    "Coldplay's greatest hits", "bossa nova", "kids' songs", "Vivaldi's Four Seasons", "Beyoncé",
    "ambient sleep sounds", "80s pop", "Ed Sheeran", "Abbey Road", "Billie Eilish", "deep focus",
    "Fleetwood Mac", "summer hits", "Miles Davis", "piano for studying", "K-pop hits", "dinner party jazz",
)
MUSIC_SERVICES = ("Spotify", "YouTube Music", "Apple Music", "Pandora", "Amazon Music", "Deezer", "Tidal")
VIDEO_SERVICES = ("YouTube", "Netflix", "Disney+", "Prime Video", "Hulu", "Max")
# fmt: on
