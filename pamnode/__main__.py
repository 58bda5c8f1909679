from pamnode.cli import app

app(prog_name="pamnode")
