from flask_wtf import FlaskForm
from wtforms import StringField
from wtforms.validators import DataRequired, Length

from app.services.accounts import MAX_TOKEN_NAME


class TokenForm(FlaskForm):
    name = StringField(
        "Name",
        validators=[
            DataRequired("Name the token after what will use it."),
            Length(max=MAX_TOKEN_NAME, message=f"Use at most {MAX_TOKEN_NAME} characters."),
        ],
    )
