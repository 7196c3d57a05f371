package simulator

// name is a given or family name with the ASCII form used in emails.
type name struct{ display, mail string }

var firstNames = []name{
	{"Anna", "anna"}, {"Ben", "ben"}, {"Chloé", "chloe"}, {"David", "david"}, {"Emma", "emma"},
	{"Fatima", "fatima"}, {"George", "george"}, {"Hannah", "hannah"}, {"Ibrahim", "ibrahim"},
	{"Julia", "julia"}, {"Kwame", "kwame"}, {"Laura", "laura"}, {"Mohammed", "mohammed"},
	{"Nina", "nina"}, {"Oliver", "oliver"}, {"Priya", "priya"}, {"Quentin", "quentin"},
	{"Rosa", "rosa"}, {"Sam", "sam"}, {"Tom", "tom"}, {"Ursula", "ursula"}, {"Victor", "victor"},
	{"Wei", "wei"}, {"Xavier", "xavier"}, {"Yasmin", "yasmin"}, {"Zoë", "zoe"}, {"Aoife", "aoife"},
	{"Björn", "bjorn"}, {"Carmen", "carmen"}, {"Dmitri", "dmitri"}, {"Elena", "elena"},
	{"Finn", "finn"}, {"Grace", "grace"}, {"Hiro", "hiro"}, {"Isla", "isla"}, {"Jack", "jack"},
	{"Kate", "kate"}, {"Leo", "leo"}, {"Maya", "maya"}, {"Noah", "noah"}, {"Olivia", "olivia"},
	{"Peter", "peter"}, {"Ruth", "ruth"}, {"Sofia", "sofia"}, {"Theo", "theo"}, {"Uma", "uma"},
}

var lastNames = []name{
	{"Smith", "smith"}, {"Jones", "jones"}, {"Williams", "williams"}, {"Brown", "brown"},
	{"Taylor", "taylor"}, {"Davies", "davies"}, {"Evans", "evans"}, {"Wilson", "wilson"},
	{"Thomas", "thomas"}, {"Johnson", "johnson"}, {"Roberts", "roberts"}, {"Walker", "walker"},
	{"Wright", "wright"}, {"Robinson", "robinson"}, {"Thompson", "thompson"}, {"White", "white"},
	{"Hughes", "hughes"}, {"Edwards", "edwards"}, {"Green", "green"}, {"Hall", "hall"},
	{"O'Brien", "obrien"}, {"Müller", "muller"}, {"García", "garcia"}, {"Rossi", "rossi"},
	{"Nowak", "nowak"}, {"Kowalski", "kowalski"}, {"Okafor", "okafor"}, {"Patel", "patel"},
	{"Khan", "khan"}, {"Nguyen", "nguyen"}, {"Chen", "chen"}, {"Kim", "kim"}, {"Silva", "silva"},
	{"Dubois", "dubois"}, {"Jensen", "jensen"}, {"Novak", "novak"}, {"Murphy", "murphy"},
	{"Kelly", "kelly"}, {"Campbell", "campbell"}, {"Stewart", "stewart"}, {"Singh", "singh"},
}
