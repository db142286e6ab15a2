from flask_wtf import FlaskForm
from flask_wtf.file import FileField, FileRequired
from wtforms import BooleanField, EmailField, SelectChoice, SelectField, StringField, TextAreaField
from wtforms.validators import DataRequired, Length, Optional


class ListForm(FlaskForm):
    name = StringField("Name", validators=[DataRequired(), Length(max=200)])
    description = TextAreaField("Description", validators=[Optional(), Length(max=2000)])
    double_opt_in = BooleanField("Double opt-in (subscribers confirm by e-mail)", default=True)
    tracking = BooleanField("Track opens and clicks of campaigns to this list", default=True)


class SubscriberForm(FlaskForm):
    email = EmailField("E-mail", validators=[DataRequired(), Length(max=254)])
    name = StringField("Name", validators=[Optional(), Length(max=200)])
    status = SelectField(
        "Status",
        choices=[
            SelectChoice("confirmed", "Confirmed"),
            SelectChoice("pending", "Pending (send a confirmation e-mail)"),
        ],
        default="confirmed",
    )


class ImportForm(FlaskForm):
    file = FileField("CSV file", validators=[FileRequired("Choose a CSV file.")])
    status = SelectField(
        "New subscribers are",
        choices=[
            SelectChoice("confirmed", "Confirmed (they agreed to receive your mail)"),
            SelectChoice("pending", "Pending (send each a confirmation e-mail)"),
        ],
        default="confirmed",
    )
